import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpRequest, rawRequest } from "../support/raw-http.js";
import { LAST, SEQUENCE, startTestGateway, type TestGateway } from "../support/gateway.js";

describe("the decoy", () => {
  let t: TestGateway;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    t = await startTestGateway({ store: "memory" });
    server = createServer(t.gateway.handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  const fetchRaw = (
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body = "",
  ) =>
    rawRequest(
      port,
      httpRequest(method, path, { "X-Forwarded-For": "203.0.113.70", ...headers }, body),
    );

  it("is byte-identical (Date aside) for a step and a random path", async () => {
    const random = await fetchRaw("GET", "/wp-login.php");
    expect(random.statusLine).toBe("HTTP/1.1 404 Not Found");
    expect(await fetchRaw("GET", SEQUENCE[0])).toEqual(random);
    expect(await fetchRaw("GET", SEQUENCE[1])).toEqual(random); // in order: still the decoy
    expect(await fetchRaw("GET", SEQUENCE[1])).toEqual(random); // a repeat
    expect(await fetchRaw("GET", LAST, { "X-Forwarded-For": "203.0.113.71" })).toEqual(random);
  });

  it("is identical for POST, OPTIONS and PUT to the last step and to a random path", async () => {
    for (const method of ["POST", "OPTIONS", "PUT", "DELETE", "PATCH"]) {
      const body = method === "POST" ? "challenge=x&user=alice&code=123456" : "";
      const headers = { "Content-Type": "application/x-www-form-urlencoded" };
      const random = await fetchRaw(method, "/nothing/here", headers, body);
      expect(await fetchRaw(method, LAST, headers, body)).toEqual(random);
    }
  });

  it("carries nginx's headers in nginx's order and case, and no security headers", async () => {
    const { headerLines } = await fetchRaw("GET", "/x");
    // rawRequest drops Date; nginx sends it second, between Server and Content-Type.
    expect(headerLines).toEqual([
      "Server: nginx",
      "Content-Type: text/html",
      "Content-Length: 146",
      "Connection: close",
    ]);
  });

  it("is the same nginx 404, without helmet's headers, on a step path", async () => {
    const { headerLines } = await fetchRaw("GET", LAST, { "X-Forwarded-For": "203.0.113.72" });
    expect(headerLines.join("\n")).not.toMatch(/content-security-policy|strict-transport/i);
    expect(headerLines[0]).toBe("Server: nginx");
  });

  it("ignores query strings when matching steps", async () => {
    expect(await fetchRaw("GET", `${SEQUENCE[0]}?utm=1`)).toEqual(
      await fetchRaw("GET", "/x?utm=1"),
    );
  });
});

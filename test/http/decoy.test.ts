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

  it("carries helmet's headers and no framework fingerprint", async () => {
    const { headerLines } = await fetchRaw("GET", "/x");
    const names = headerLines.map((h) => h.split(":")[0]?.toLowerCase());
    expect(names).toEqual(
      expect.arrayContaining([
        "content-security-policy",
        "x-content-type-options",
        "strict-transport-security",
      ]),
    );
    expect(names).not.toContain("x-powered-by");
    expect(names).not.toContain("etag");
  });

  it("ignores query strings when matching steps", async () => {
    expect(await fetchRaw("GET", `${SEQUENCE[0]}?utm=1`)).toEqual(
      await fetchRaw("GET", "/x?utm=1"),
    );
  });
});

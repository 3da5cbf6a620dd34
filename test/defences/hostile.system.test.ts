import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAST, SEQUENCE, startTestGateway, type TestGateway } from "../support/gateway.js";
import { knocker, send } from "./support.js";

/** Sends raw bytes and returns whatever came back before the server closed (or the timeout). */
function rawBytes(port: number, data: Buffer | string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", done);
    socket.on("close", done);
    socket.write(data);
  });
}

const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

describe("hostile input (real listener with the gateway's limits, real Redis)", () => {
  let t: TestGateway;
  let port: number;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  beforeAll(async () => {
    process.on("unhandledRejection", onRejection);
    t = await startTestGateway();
    const [url] = await t.gateway.start();
    port = Number(new URL(url ?? "").port);
  });
  afterAll(async () => {
    process.off("unhandledRejection", onRejection);
    await t.close();
    expect(rejections).toEqual([]);
  });
  const alive = async () => {
    expect((await send(port, "GET", "/still-alive")).status).toBe(404);
  };
  let nextIp = 1;
  const client = () => knocker(() => port, `198.51.100.${nextIp++}`);

  it("answers a 100 kB header as nginx does (400 Request Header Or Cookie Too Large), and lives on", async () => {
    const response = await rawBytes(
      port,
      `GET ${LAST} HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain("<title>400 Request Header Or Cookie Too Large</title>");
    await alive();
  });

  it("answers over-long URLs with the decoy, or nginx's 414 past 8 KiB, never a 5xx", async () => {
    expect((await send(port, "GET", `${LAST}?${"q".repeat(3000)}`)).status).toBe(404);
    expect((await send(port, "GET", `/${"p".repeat(3000)}`)).status).toBe(404);
    const huge = await rawBytes(port, `GET /${"u".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusOf(huge)).toBe(414);
    await alive();
  });

  it("answers an oversized body with the decoy and leaves the challenge usable", async () => {
    const c = client();
    const challenge = (await c.walk()) ?? "";
    const big = await c.redeem(challenge, { code: "1".repeat(100_000) });
    expect(big.status).toBe(404);
    expect((await c.redeem(challenge)).status).toBe(200);
  });

  it("refuses malformed codes from a live challenge's holder with a 4xx", async () => {
    const malformed: unknown[] = [
      "",
      "abcdef",
      "1234567",
      "12345",
      "٠١٢٣٤٥", // Arabic-Indic digits: \d in some engines, never a TOTP code
      "１２３４５６", // full-width digits
      " 123456",
      "12345\n",
      "+12345",
      123456,
      ["123456"],
      { code: "123456" },
      null,
    ];
    for (const code of malformed) {
      const c = client();
      const reply = await c.redeem((await c.walk()) ?? "", { code });
      expect(reply.status, JSON.stringify(code)).toBe(403);
    }
    expect(t.firewall.opened).toHaveLength(2); // only the grant of the previous test
  });

  it("survives random requests: no 5xx, no unhandled rejection (fast-check)", async () => {
    const printable = fc.stringMatching(/^[\x20-\x7e]{0,120}$/);
    const segment = fc.oneof(
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
      fc.constantFrom("..", ".", "%", "%00", "%2e%2e", "%2F", "%ZZ", "", "~", "a;b=c"),
    );
    const path = fc.oneof(
      fc.constantFrom(...SEQUENCE, "/", "*", "/w/1", "/w/2"),
      fc.array(segment, { maxLength: 5 }).map((parts) => `/${parts.join("/")}`),
      fc.tuple(fc.constantFrom(...SEQUENCE), printable).map(([p, q]) => `${p}?${encodeURI(q)}`),
    );
    const method = fc.oneof(
      fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"),
      fc.stringMatching(/^[A-Z]{1,10}$/).filter((m) => m !== "CONNECT"),
    );
    const headers = fc.record(
      {
        "content-type": fc.constantFrom(
          "application/json",
          "application/x-www-form-urlencoded",
          "text/plain",
          "multipart/form-data; boundary=x",
          "application/json; charset=utf-7",
          "garbage/;;",
        ),
        "content-encoding": fc.constantFrom("gzip", "deflate", "br", "identity", "x-bogus"),
        "x-forwarded-for": fc.oneof(fc.ipV4(), fc.ipV6(), printable),
        accept: fc.oneof(fc.constantFrom("application/json", "text/html", "*/*"), printable),
        extra: printable,
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 300 }),
      fc.json({ maxDepth: 3 }),
      fc
        .record({ challenge: fc.anything(), user: fc.anything(), code: fc.anything() })
        .map((value) =>
          JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)),
        ),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
    );
    await fc.assert(
      fc.asyncProperty(method, path, headers, body, async (m, p, h, b) => {
        const reply = await send(port, m, p, h, b);
        expect(reply.status).toBeGreaterThanOrEqual(200);
        expect(reply.status).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
    await alive();
    expect(rejections).toEqual([]);
  });

  it("survives random bytes on the socket (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 500 }).map((bytes) => Buffer.from(bytes)),
          fc
            .string({ maxLength: 200 })
            .map((junk) => `GET ${LAST} HTTP/1.1\r\nHost: x\r\n${junk}\r\n\r\n`),
        ),
        async (data) => {
          const response = await rawBytes(port, data, 300);
          const status = statusOf(response);
          expect(status < 500).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
    await alive();
  });
});

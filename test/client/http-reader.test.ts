import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HttpParseError, parseHead, ResponseReader } from "../../src/client/http-reader.js";

const decoy = (body: string) =>
  `HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`;

describe("ResponseReader", () => {
  it("reads pipelined responses in order, however the bytes are split", () => {
    const bytes = Buffer.from(
      decoy("<html>404</html>") +
        "HTTP/1.1 100 Continue\r\n\r\n" +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\n{"a":\r\n3\r\n 1}\r\n0\r\nX-Trailer: 1\r\n\r\n' +
        "HTTP/1.1 204 No Content\r\n\r\n",
    );
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        (cuts) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const reader = new ResponseReader();
          const got = [];
          let from = 0;
          for (const at of [...points, bytes.length]) {
            got.push(...reader.push(bytes.subarray(from, at)));
            from = at;
          }
          expect(got.map((r) => [r.status, r.body.toString()])).toEqual([
            [404, "<html>404</html>"],
            [200, '{"a": 1}'],
            [204, ""],
          ]);
          expect(got[0]?.headers.get("server")).toBe("nginx");
          expect(reader.idle).toBe(true);
        },
      ),
    );
  });

  it("completes a body framed by the close, and fails on a close mid-response", () => {
    const reader = new ResponseReader();
    expect(reader.push(Buffer.from("HTTP/1.0 200 OK\r\n\r\nhello "))).toEqual([]);
    expect(reader.push(Buffer.from("world"))).toEqual([]);
    expect(reader.end().map((r) => r.body.toString())).toEqual(["hello world"]);

    const cut = new ResponseReader();
    cut.push(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    expect(() => cut.end()).toThrow(HttpParseError);
  });

  it("bounds the head and the body", () => {
    const small = { maxHeadBytes: 64, maxBodyBytes: 8 };
    expect(() =>
      new ResponseReader(small).push(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(80)}`)),
    ).toThrow(/head is longer than 64/);
    expect(() =>
      new ResponseReader(small).push(
        Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789"),
      ),
    ).toThrow(/larger than 8/);
    expect(() =>
      new ResponseReader(small).push(
        Buffer.from(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n12345\r\n",
        ),
      ),
    ).toThrow(/larger than 8/);
  });

  it("refuses what is not HTTP", () => {
    expect(() => new ResponseReader().push(Buffer.from("SSH-2.0-OpenSSH_9.2\r\n\r\n"))).toThrow(
      /Expected an HTTP\/1.1 status line/,
    );
    expect(() =>
      new ResponseReader().push(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")),
    ).toThrow(/Bad Content-Length/);
    expect(() =>
      new ResponseReader().push(
        Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
      ),
    ).toThrow(/Bad chunk size/);
  });
});

describe("parseHead (a proxy's answer to CONNECT)", () => {
  it("waits for the blank line, then gives the head and its length", () => {
    const text = "HTTP/1.1 200 Connection established\r\nVia: squid\r\n\r\nSSH-2.0-x";
    expect(parseHead(Buffer.from(text.slice(0, 20)), 8192)).toBeUndefined();
    const parsed = parseHead(Buffer.from(text), 8192);
    expect(parsed?.head).toMatchObject({ status: 200, reason: "Connection established" });
    expect(parsed?.head.headers.get("via")).toBe("squid");
    expect(text.slice(parsed?.length)).toBe("SSH-2.0-x");
  });

  it("is bounded: a head that never ends is refused once it passes the limit", () => {
    expect(parseHead(Buffer.from("HTTP/1.1 200 OK\r\nX: y"), 32)).toBeUndefined();
    expect(() => parseHead(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${"y".repeat(40)}`), 32)).toThrow(
      HttpParseError,
    );
    expect(() =>
      parseHead(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${"y".repeat(40)}\r\n\r\n`), 32),
    ).toThrow(HttpParseError);
    expect(() => parseHead(Buffer.from("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), 32)).toThrow(
      /Malformed header/,
    );
  });
});

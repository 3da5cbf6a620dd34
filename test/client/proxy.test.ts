import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { TransportError } from "../../src/client/http.js";
import {
  bypassesProxy,
  connectRequest,
  MAX_CONNECT_HEAD_BYTES,
  proxyFor,
  readConnectResponse,
} from "../../src/client/proxy.js";

const gw = new URL("https://gw.example.net");

describe("proxyFor", () => {
  it("takes https_proxy for https gateways and http_proxy for http ones, lower case first", () => {
    expect(proxyFor(gw, { HTTPS_PROXY: "http://p:3128" })?.href).toBe("http://p:3128/");
    expect(proxyFor(gw, { https_proxy: "http://a:1", HTTPS_PROXY: "http://b:2" })?.host).toBe(
      "a:1",
    );
    expect(proxyFor(gw, { HTTP_PROXY: "http://p:3128" })).toBeUndefined();
    expect(proxyFor(new URL("http://gw.example.net"), { http_proxy: "p:8080" })?.href).toBe(
      "http://p:8080/",
    );
    expect(proxyFor(gw, {})).toBeUndefined();
  });

  it("refuses a proxy it cannot use, with the fix", () => {
    expect(() => proxyFor(gw, { HTTPS_PROXY: "socks5://p:1080" })).toThrow(
      /only http:\/\/ and https:\/\//,
    );
    expect(() => proxyFor(gw, { HTTPS_PROXY: "http://[::1" })).toThrow(TransportError);
  });

  it("honours NO_PROXY: *, hosts, domain suffixes, addresses and ports", () => {
    const via = (url: string, noProxy: string) =>
      proxyFor(new URL(url), { HTTPS_PROXY: "http://p:3128", NO_PROXY: noProxy }) !== undefined;
    expect(via("https://gw.example.net", "*")).toBe(false);
    expect(via("https://gw.example.net", "example.net")).toBe(false);
    expect(via("https://gw.example.net", ".example.net")).toBe(false);
    expect(via("https://gw.example.net", "other.net, ample.net")).toBe(true);
    expect(via("https://gw.example.net", "gw.example.net:443")).toBe(false);
    expect(via("https://gw.example.net:8443", "gw.example.net:443")).toBe(true);
    expect(via("https://127.0.0.1:8443", "127.0.0.1")).toBe(false);
    expect(via("https://127.0.0.1:8443", "")).toBe(true);
    expect(via("https://[2001:db8::1]", "2001:db8::1")).toBe(false);
    expect(via("https://[2001:db8::1]:8443", "[2001:db8::1]:8443")).toBe(false);
    expect(via("https://[2001:db8::1]", "[2001:db8::1]:8443")).toBe(true);
    expect(bypassesProxy(new URL("https://1.2.3.4"), "2.3.4")).toBe(false);
    expect(proxyFor(gw, { https_proxy: "http://p:1", no_proxy: "gw.example.net" })).toBeUndefined();
  });
});

describe("CONNECT", () => {
  it("asks for host:port, brackets IPv6, sends Basic credentials from the URL", () => {
    expect(connectRequest(new URL("http://p:3128"), { host: "gw.example.net", port: 443 })).toBe(
      "CONNECT gw.example.net:443 HTTP/1.1\r\nHost: gw.example.net:443\r\n\r\n",
    );
    const withAuth = connectRequest(new URL("http://al%40ice:p%3Ass@p:3128"), {
      host: "2001:db8::1",
      port: 8443,
    });
    expect(withAuth).toContain("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n");
    expect(withAuth).toContain(
      `Proxy-Authorization: Basic ${Buffer.from("al@ice:p:ss").toString("base64")}\r\n`,
    );
  });

  const proxy = new URL("http://p:3128");
  const answer = async (...chunks: string[]) => {
    const socket = new PassThrough();
    const result = readConnectResponse(socket, proxy);
    for (const chunk of chunks) socket.write(chunk);
    return { result: await result, socket };
  };

  it("hands the stream back after a 2xx, bytes after the head included", async () => {
    const { result, socket } = await answer(
      "HTTP/1.1 200 Connection est",
      "ablished\r\n\r\nSSH-2.0-x",
    );
    expect(result.status).toBe(200);
    expect((socket.read() as Buffer).toString()).toBe("SSH-2.0-x");
  });

  it("says what a 407 or another refusal means", async () => {
    await expect(
      answer(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n',
      ),
    ).rejects.toThrow(/wants credentials \(407, Basic\)/);
    await expect(answer("HTTP/1.1 403 Forbidden\r\n\r\n")).rejects.toThrow(
      /refused to connect to the gateway: 403 Forbidden/,
    );
    const err = await answer("HTTP/1.1 407 x\r\n\r\n").catch((e: unknown) => e);
    expect((err as TransportError).fix).toContain("HTTPS_PROXY=http://user:password@host:port");
  });

  it("refuses an endless or non-HTTP answer, and an early close", async () => {
    await expect(
      answer("HTTP/1.1 200 OK\r\n", `X: ${"a".repeat(MAX_CONNECT_HEAD_BYTES)}`),
    ).rejects.toThrow(/did not answer CONNECT with HTTP/);
    await expect(answer("SSH-2.0-OpenSSH\r\n\r\n")).rejects.toThrow(
      /did not answer CONNECT with HTTP/,
    );
    const socket = new PassThrough();
    const result = readConnectResponse(socket, proxy);
    socket.end("HTTP/1.1 200");
    socket.resume();
    await expect(result).rejects.toThrow(/closed the connection before answering CONNECT/);
  });
});

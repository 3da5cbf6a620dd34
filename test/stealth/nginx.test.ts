import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { browserPadding, httpDate, PAGES } from "../../src/stealth/nginx-pages.js";
import { judge, validHost } from "../../src/stealth/nginx-rules.js";
import { NGINX_SERVER_OPTIONS } from "../../src/stealth/nginx.js";
import { createStranger } from "../../src/stealth/stranger.js";
import { exchange } from "../support/raw-exchange.js";

const shape = (target: string, rawHeaders: string[] = ["Host", "x"], method = "GET") => ({
  method,
  target,
  major: 1,
  minor: 1,
  rawHeaders,
});

describe("nginx's request checks", () => {
  it("routes ordinary requests and refuses what nginx refuses, in nginx's order", () => {
    expect(judge(shape("/a/b?x=%zz"))).toBeUndefined();
    expect(judge(shape("/%zz"))?.page).toBe(PAGES.badRequest);
    expect(judge(shape("/a/%2e%2e/%2e%2e"))?.page).toBe(PAGES.badRequest);
    expect(judge(shape("/a/.."))).toBeUndefined();
    expect(judge(shape("/", [], "GET"))?.page).toBe(PAGES.badRequest);
    expect(judge(shape("/", ["Host", "x"], "TRACE"))?.page).toBe(PAGES.notAllowed);
    expect(judge({ ...shape("/%zz"), major: 2, minor: 0 })?.page).toBe(PAGES.versionNotSupported);
    expect(judge(shape("/", ["Host", "x", "Content-Length", "1048577"]))).toMatchObject({
      page: PAGES.entityTooLarge,
      linger: true,
    });
    expect(judge(shape("/", ["Host", "x", "Transfer-Encoding", "gzip"]))?.page).toBe(
      PAGES.notImplemented,
    );
  });

  it("pads refusals decided after the User-Agent was read, for MSIE and Chrome only", () => {
    const chrome = "Mozilla/5.0 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
    expect(browserPadding(chrome)).toBe(true);
    expect(browserPadding("Mozilla/5.0 (X11; rv:120.0) Gecko/20100101 Firefox/120.0")).toBe(false);
    expect(browserPadding("Opera/9.80 (MSIE 6.0)")).toBe(false);
    expect(browserPadding("x MSIE 11")).toBe(false);
    expect(judge(shape("/", ["User-Agent", chrome, "Host", "a b"]))?.padded).toBe(true);
    expect(judge(shape("/", ["Host", "a b", "User-Agent", chrome]))?.padded).toBe(false);
    expect(PAGES.notFound.paddedBody.length).toBe(548);
  });

  it("never throws, whatever the target and headers", () => {
    fc.assert(
      fc.property(fc.string(), fc.array(fc.string(), { maxLength: 8 }), (target, headers) => {
        judge(shape(target, headers));
        validHost(target);
      }),
    );
  });

  it("formats the Date nginx sends", () => {
    expect(httpDate(Date.UTC(2026, 11, 2, 10, 8, 45))).toBe("Wed, 02 Dec 2026 10:08:45 GMT");
  });
});

describe("the nginx profile on a live node:http server", () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    }
    server = undefined;
  });

  async function serve(options = NGINX_SERVER_OPTIONS): Promise<number> {
    const stranger = createStranger({ decoy: "nginx" });
    const live = createServer(options, (req, res) => {
      if (!stranger.refuse(req, res)) stranger.answer(req, res);
    });
    stranger.attach(live);
    server = live;
    await new Promise<void>((resolve) => live.listen(0, "127.0.0.1", resolve));
    return (live.address() as AddressInfo).port;
  }

  it("uses nginx's limits: 32 KiB of headers, 60 s header timeout, 65 s keep-alive", () => {
    expect(NGINX_SERVER_OPTIONS).toMatchObject({
      maxHeaderSize: 32_768,
      headersTimeout: 60_000,
      keepAliveTimeout: 65_000,
      requireHostHeader: false,
    });
  });

  it("answers garbage with nginx's 400, never Node's bare one", async () => {
    const port = await serve();
    const answer = await exchange(port, Buffer.from("hello garbage\r\n\r\n"));
    expect(answer.closed).toBe(true);
    expect(answer.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nServer: nginx\r\nDate: -\r\n/);
    expect(answer.text).toContain("<center>nginx</center>");
  });

  it("answers an unknown method (Node refuses it, nginx does not) once its headers end", async () => {
    const port = await serve();
    const socket = connect({ host: "127.0.0.1", port });
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    // Sent in three pieces: nginx answers only after the blank line, and so must we.
    socket.write("FOO /a HTTP/1.1\r\nHost: x\r\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.write("User-Agent: y\r\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(text).toBe("");
    socket.write("\r\n");
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 404 Not Found\r\nServer: nginx\r\n/);
    expect(text).toContain("Connection: keep-alive\r\n");
  });

  it("closes a connection that never finishes its headers without a word (no 408)", async () => {
    const port = await serve({
      ...NGINX_SERVER_OPTIONS,
      headersTimeout: 300,
      requestTimeout: 300,
      connectionsCheckingInterval: 50,
    });
    const answer = await exchange(port, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n"), 2000, 3000);
    expect(answer).toEqual({ text: "", closed: true });
  });
});

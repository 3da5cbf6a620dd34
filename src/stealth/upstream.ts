import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { Pool, errors } from "undici";
import { PAGES, pageBytes, type NginxPage } from "./nginx-pages.js";

/**
 * Timeouts of the upstream leg, as nginx's proxy module defaults them
 * (proxy_connect_timeout, proxy_read_timeout: 60 s each).
 */
export interface UpstreamTimeouts {
  /** Time to open a TCP (and TLS) connection to the upstream; then 504. */
  readonly connectMs: number;
  /** Time from sending the request to the upstream's response headers; then 504. */
  readonly headersMs: number;
  /** Longest silence inside the upstream's body; then the client's connection is cut. */
  readonly bodyMs: number;
}

/** nginx's proxy defaults. */
export const UPSTREAM_TIMEOUTS: UpstreamTimeouts = Object.freeze({
  connectMs: 60_000,
  headersMs: 60_000,
  bodyMs: 60_000,
});

/** Hop-by-hop headers (RFC 9110 7.6.1, plus the legacy ones proxies strip). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
  // undici refuses to forward an Expect header; the front answers 100-continue itself.
  "expect",
]);

/** The smoke-screen proxy: every non-knock request goes to a real website. */
export interface UpstreamProxy {
  /** Streams the request to the upstream and its answer back; 502 or 504 when it fails. */
  forward(req: IncomingMessage, res: ServerResponse): void;
  /** Passes an upgrade (WebSocket) through: both directions piped until either side closes. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes the connection pool. */
  close(): Promise<void>;
}

/** Sends one of nginx's pages through Node's response, as the proxy's own error answer. */
export type PageSender = (res: ServerResponse, page: NginxPage, keepAlive: boolean) => void;

/**
 * Builds the proxy on undici's Pool: keep-alive connections to the upstream, streaming
 * both ways with backpressure, and typed timeout errors that map to 504. Upgrades use
 * node:http, whose `upgrade` event hands back the raw socket for any answer (a 101 or a
 * refusal), which undici's upgrade API does not.
 */
export function createUpstreamProxy(
  upstream: URL,
  sendPage: PageSender,
  timeouts: UpstreamTimeouts = UPSTREAM_TIMEOUTS,
): UpstreamProxy {
  const pool = new Pool(upstream.origin, {
    connectTimeout: timeouts.connectMs,
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyMs,
  });
  const basePath = upstream.pathname.replace(/\/$/, "");

  return {
    forward(req, res) {
      const controller = new AbortController();
      res.once("close", () => {
        if (!res.writableFinished) controller.abort();
      });
      // A body an earlier layer already read (a refused knock) cannot be sent again.
      const hasBody =
        !req.readableDidRead &&
        (req.headers["content-length"] !== undefined ||
          req.headers["transfer-encoding"] !== undefined);
      // The Expect header is not forwarded, so the proxy says `100 Continue` itself, as
      // nginx does when it starts reading a body to proxy.
      if (hasBody && /^100-continue$/i.test(req.headers.expect ?? "")) res.writeContinue();
      pool
        .stream(
          {
            path: basePath + originForm(req.url ?? "/"),
            method: req.method ?? "GET",
            headers: forwardedHeaders(req, false, hasBody),
            body: hasBody ? req : null,
            signal: controller.signal,
            responseHeaders: "raw",
          },
          ({ statusCode, headers }) => {
            // Only the site's headers: drop what an earlier layer set (helmet on a refused
            // knock), or the answer would differ from the site's own for that path.
            for (const name of res.getHeaderNames()) res.removeHeader(name);
            res.writeHead(statusCode, responseHeaders(headers as unknown as Buffer[], res));
            return res;
          },
        )
        .catch((error: unknown) => {
          if (controller.signal.aborted) return;
          if (res.headersSent) {
            // Mid-body failure: the status is out, so cut the connection as nginx does.
            res.destroy();
            return;
          }
          sendPage(res, isTimeout(error) ? PAGES.gatewayTimeout : PAGES.badGateway, false);
        });
    },
    upgrade(req, socket, head) {
      const send = upstream.protocol === "https:" ? httpsRequest : httpRequest;
      const outgoing = send({
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: basePath + originForm(req.url ?? "/"),
        headers: forwardedHeaders(req, true, false),
        timeout: timeouts.headersMs,
      });
      const fail = (page: NginxPage) => {
        outgoing.destroy();
        if (socket.writable) socket.end(pageBytes(page, false));
        else socket.destroy();
      };
      outgoing.once("timeout", () => {
        fail(PAGES.gatewayTimeout);
      });
      outgoing.once("error", () => {
        fail(PAGES.badGateway);
      });
      socket.on("error", () => outgoing.destroy());
      outgoing.once(
        "upgrade",
        (answer: IncomingMessage, upstreamSocket: Duplex, upHead: Buffer) => {
          outgoing.setTimeout(0);
          socket.write(rawHead(answer));
          if (upHead.length > 0) socket.write(upHead);
          if (head.length > 0) upstreamSocket.write(head);
          upstreamSocket.on("error", () => socket.destroy());
          socket.on("error", () => upstreamSocket.destroy());
          upstreamSocket.pipe(socket).pipe(upstreamSocket);
        },
      );
      outgoing.once("response", (answer: IncomingMessage) => {
        // The upstream refused the upgrade: relay its answer and close.
        outgoing.setTimeout(0);
        socket.write(rawHead(answer, true));
        answer.pipe(socket);
      });
      outgoing.end();
    },
    async close() {
      await pool.close();
    },
  };
}

/** An absolute-form target (`GET http://host/x`) becomes origin form for the upstream. */
function originForm(target: string): string {
  if (target.startsWith("/")) return target;
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/i.exec(target);
  const rest = match?.[1] ?? "";
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/** The client's headers minus hop-by-hop ones, plus X-Forwarded-For and -Proto. */
function forwardedHeaders(req: IncomingMessage, upgrade: boolean, withBody: boolean): string[] {
  const listed = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? "";
    const value = raw[i + 1] ?? "";
    const lower = name.toLowerCase();
    if (lower === "x-forwarded-for") {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    if (lower === "x-forwarded-proto") continue;
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    if (!withBody && lower === "content-length") continue;
    out.push(name, value);
  }
  // $proxy_add_x_forwarded_for: whatever the client said, then the address we saw.
  const peer = req.socket.remoteAddress ?? "";
  out.push("X-Forwarded-For", forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`);
  out.push("X-Forwarded-Proto", req.socket instanceof TLSSocket ? "https" : "http");
  if (upgrade) out.push("Connection", "Upgrade", "Upgrade", req.headers.upgrade ?? "");
  return out;
}

/** The upstream's headers minus hop-by-hop ones, names in the upstream's own case. */
function responseHeaders(raw: readonly Buffer[], res: ServerResponse): string[] {
  const texts = raw.map((b) => b.toString("latin1"));
  const listed = new Set<string>();
  for (let i = 0; i < texts.length; i += 2) {
    if (texts[i]?.toLowerCase() === "connection") {
      for (const token of connectionTokens(texts[i + 1])) listed.add(token);
    }
  }
  const out: string[] = [];
  for (let i = 0; i < texts.length; i += 2) {
    const lower = (texts[i] ?? "").toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    out.push(texts[i] ?? "", texts[i + 1] ?? "");
  }
  // Our own hop to the client, as nginx words it (no Node `Keep-Alive: timeout=` line).
  out.push("Connection", res.shouldKeepAlive ? "keep-alive" : "close");
  return out;
}

function connectionTokens(value: string | undefined): Set<string> {
  const tokens = new Set<string>();
  for (const token of (value ?? "").split(",")) {
    const trimmed = token.trim().toLowerCase();
    if (trimmed !== "") tokens.add(trimmed);
  }
  return tokens;
}

/**
 * An upstream answer's status line and headers for a raw socket. A 101 goes as received;
 * a refusal loses its framing headers (node:http has decoded the body) and closes.
 */
function rawHead(answer: IncomingMessage, refusal = false): string {
  let head = `HTTP/1.1 ${String(answer.statusCode ?? 502)} ${answer.statusMessage ?? ""}\r\n`;
  for (let i = 0; i < answer.rawHeaders.length; i += 2) {
    const name = answer.rawHeaders[i] ?? "";
    if (refusal && HOP_BY_HOP.has(name.toLowerCase())) continue;
    head += `${name}: ${answer.rawHeaders[i + 1] ?? ""}\r\n`;
  }
  return `${head}${refusal ? "Connection: close\r\n" : ""}\r\n`;
}

function isTimeout(error: unknown): boolean {
  return error instanceof errors.HeadersTimeoutError || error instanceof errors.ConnectTimeoutError;
}

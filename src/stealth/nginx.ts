import type { IncomingMessage, ServerOptions, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { browserPadding, PAGES, pageBytes, pageHeaders, type NginxPage } from "./nginx-pages.js";
import { judgeRaw } from "./nginx-raw.js";
import { judge, NGINX_LIMITS, type Verdict } from "./nginx-rules.js";

/** How often Node looks for connections past their header timeout (its default is 30 s). */
const TIMEOUT_CHECK_MS = 1000;

/** Bytes of a refused request kept while waiting for the rest of its header block. */
const MAX_PENDING = NGINX_LIMITS.headerBuffer * NGINX_LIMITS.headerBuffers;

/**
 * node:http server options that make Node's connection handling match nginx's: its
 * header size and timeouts, and no Node-made 400 for a missing Host (nginx decides).
 */
export const NGINX_SERVER_OPTIONS: ServerOptions = Object.freeze({
  // Node's limit covers the request line and all headers; nginx's four 8 KiB buffers.
  maxHeaderSize: NGINX_LIMITS.headerBuffer * NGINX_LIMITS.headerBuffers,
  headersTimeout: NGINX_LIMITS.headerTimeoutMs,
  // nginx has no whole-request deadline; Node insists on one at least headersTimeout long.
  requestTimeout: 2 * NGINX_LIMITS.headerTimeoutMs,
  keepAliveTimeout: NGINX_LIMITS.keepAliveTimeoutMs,
  connectionsCheckingInterval: TIMEOUT_CHECK_MS,
  requireHostHeader: false,
});

/** The nginx profile: nginx's answers for everything a stranger can send. */
export interface NginxProfile {
  /**
   * Answers the request as nginx would refuse it (bad target, Host, version, method,
   * body size...) and returns true; returns false, having written nothing, when nginx
   * would route it. Synchronous and allocation-free for a well-formed request.
   */
  readonly refuse: (req: IncomingMessage, res: ServerResponse) => boolean;
  /**
   * For the upstream profile, which passes anything it can frame: answers only what a
   * proxy cannot forward (HTTP/2+ on this port: 505; a Transfer-Encoding other than
   * chunked: 501) as nginx would, and returns true.
   */
  readonly refuseUnframeable: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Sends nginx's 404 for this request, keep-alive as nginx decides. */
  readonly notFound: (res: ServerResponse) => void;
  /** Sends one of nginx's pages through Node's response (502 and 504 for the proxy). */
  readonly send: (
    res: ServerResponse,
    page: NginxPage,
    keepAlive: boolean,
    padded?: boolean,
  ) => void;
  /** Answers bytes Node's parser refused (the server's `clientError` event). */
  readonly onClientError: (
    error: Error & { code?: string; rawPacket?: Buffer },
    socket: Duplex,
  ) => void;
}

/** Builds the nginx profile. It holds no per-request state beyond a socket's counters. */
export function createNginxProfile(): NginxProfile {
  const served = new WeakMap<object, number>();
  const pending = new WeakMap<Duplex, Buffer>();
  const finished = new WeakSet<Duplex>();

  function keepAliveFor(res: ServerResponse): boolean {
    if (!res.shouldKeepAlive) return false;
    // keepalive_requests: nginx closes after the 1000th request on a connection.
    const socket = res.req.socket;
    const count = (served.get(socket) ?? 0) + 1;
    served.set(socket, count);
    return count < NGINX_LIMITS.keepAliveRequests;
  }

  function send(res: ServerResponse, page: NginxPage, keepAlive: boolean, padded = false): void {
    if (res.headersSent) return;
    // Drop anything an earlier layer (helmet on a step path) set: only nginx's headers go out.
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.sendDate = false;
    res.writeHead(page.status, page.reason, pageHeaders(page, keepAlive, padded));
    res.end(padded ? page.paddedBody : page.body);
  }

  function answer(req: IncomingMessage, res: ServerResponse, verdict: Verdict): void {
    const { page, padded } = verdict;
    if (verdict.bodyOnly) {
      res.socket?.end(page.body);
      return;
    }
    if (!verdict.linger) {
      send(res, page, verdict.keepAlive, padded);
      return;
    }
    // Written past Node's response so the connection is not closed when it ends.
    const socket = req.socket;
    socket.write(pageBytes(page, false, req.method !== "HEAD", padded));
    linger(req, socket);
  }

  return {
    refuse(req, res) {
      const verdict = judgeRequest(req);
      if (verdict === undefined) return false;
      answer(req, res, verdict);
      return true;
    },
    refuseUnframeable(req, res) {
      const verdict = judgeRequest(req);
      if (verdict === undefined) return false;
      const { page } = verdict;
      if (page !== PAGES.versionNotSupported && page !== PAGES.notImplemented) return false;
      answer(req, res, verdict);
      return true;
    },
    notFound(res) {
      send(res, PAGES.notFound, keepAliveFor(res), browserPadding(res.req.headers["user-agent"]));
    },
    send,
    onClientError(error, socket) {
      // Node's parser is dead after an error and reports every later chunk the same way.
      if (finished.has(socket)) return;
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      // Node may emit a request and then fail on its body (Transfer-Encoding: gzip): the
      // request handler has answered already, so let that answer flush, then close.
      const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (inFlight?.headersSent === true) {
        socket.end();
        return;
      }
      const raw = Buffer.concat([
        pending.get(socket) ?? Buffer.alloc(0),
        error.rawPacket ?? Buffer.alloc(0),
      ]);
      const verdict = judgeRaw(error.code, raw);
      if (verdict.kind === "close") {
        socket.destroy();
        return;
      }
      if (verdict.kind === "incomplete") {
        // nginx waits for the rest of the header block; so do we, within its limits.
        if (raw.length > MAX_PENDING) {
          finish(socket, pageBytes(PAGES.headerTooLarge, false), false);
          return;
        }
        pending.set(socket, raw);
        return;
      }
      pending.delete(socket);
      const { page, keepAlive, bodyOnly, padded } = verdict.verdict;
      const bytes = bodyOnly ? page.body : pageBytes(page, keepAlive, !verdict.head, padded);
      finish(socket, bytes, keepAlive && !bodyOnly);
    },
  };

  function finish(socket: Duplex, bytes: Buffer, keepAlive: boolean): void {
    finished.add(socket);
    if (!keepAlive) {
      socket.end(bytes);
      return;
    }
    // nginx would read the next request on this connection; Node's parser cannot, so the
    // connection idles until nginx's keep-alive timeout closes it. Later bytes are dropped.
    socket.write(bytes);
    const timer = setTimeout(() => socket.destroy(), NGINX_LIMITS.keepAliveTimeoutMs);
    timer.unref();
    socket.once("close", () => {
      clearTimeout(timer);
    });
  }
}

/**
 * nginx's lingering close: after refusing a body it keeps reading and dropping it, and
 * closes once the client has been quiet for lingering_timeout (5 s) or after
 * lingering_time (30 s) in all.
 */
function linger(req: IncomingMessage, socket: Duplex): void {
  const close = () => {
    clearTimeout(quiet);
    clearTimeout(cap);
    socket.destroy();
  };
  let quiet = setTimeout(close, NGINX_LIMITS.lingeringTimeoutMs);
  const cap = setTimeout(close, NGINX_LIMITS.lingeringTimeMs);
  req.on("data", () => {
    clearTimeout(quiet);
    quiet = setTimeout(close, NGINX_LIMITS.lingeringTimeoutMs);
  });
  req.resume();
  socket.once("close", () => {
    clearTimeout(quiet);
    clearTimeout(cap);
  });
}

function judgeRequest(req: IncomingMessage): Verdict | undefined {
  return judge({
    method: req.method ?? "",
    target: req.url ?? "",
    major: req.httpVersionMajor,
    minor: req.httpVersionMinor,
    rawHeaders: req.rawHeaders,
  });
}

import { browserPadding, PAGES, type NginxPage } from "./nginx-pages.js";

/**
 * nginx 1.22's limits that show from outside (ngx_http_core_module defaults, Debian's
 * nginx.conf for keepalive_timeout). Each one changes an answer or a connection's life.
 */
export const NGINX_LIMITS = Object.freeze({
  /** large_client_header_buffers 4 8k: a request line or header line must fit in 8 KiB. */
  headerBuffer: 8192,
  /** ...and all of them together in four such buffers. */
  headerBuffers: 4,
  /** client_max_body_size 1m: a larger declared body is answered 413 at once. */
  maxBody: 1024 * 1024,
  /** client_header_timeout 60s: nginx then closes without a word. */
  headerTimeoutMs: 60_000,
  /** keepalive_timeout 65 (Debian's nginx.conf; nginx's own default is 75). */
  keepAliveTimeoutMs: 65_000,
  /** lingering_timeout 5s: a refused body is read and dropped until the client is this quiet. */
  lingeringTimeoutMs: 5_000,
  /** lingering_time 30s: ...but no longer than this in all. */
  lingeringTimeMs: 30_000,
  /** keepalive_requests 1000: the 1000th answer on a connection says `Connection: close`. */
  keepAliveRequests: 1000,
});

/** What nginx answers a request with, decided before any routing. */
export interface Verdict {
  readonly page: NginxPage;
  /** Whether the connection stays open after the answer. */
  readonly keepAlive: boolean;
  /** HTTP/0.9: nginx sends the body alone, no status line or headers. */
  readonly bodyOnly: boolean;
  /** msie_padding: only for refusals decided after nginx read the User-Agent. */
  readonly padded: boolean;
  /**
   * lingering_close: nginx keeps reading (and dropping) a body it refused for up to
   * lingering_timeout before it closes, instead of closing at once.
   */
  readonly linger: boolean;
}

/** The parts of a request nginx's checks look at, whoever parsed it. */
export interface RequestShape {
  readonly method: string;
  /** The request target exactly as sent (origin form, absolute form or `*`). */
  readonly target: string;
  readonly major: number;
  readonly minor: number;
  /** Header names and values in wire order, flat as Node's rawHeaders. */
  readonly rawHeaders: readonly string[];
}

/** A refusal that closes the connection. */
const refusal = (page: NginxPage, padded = false, linger = false): Verdict => ({
  page,
  keepAlive: false,
  bodyOnly: false,
  padded,
  linger,
});

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Lengths of host, user-agent, content-length and transfer-encoding. */
const WATCHED_LENGTHS = new Set([4, 10, 14, 17]);

/**
 * Runs nginx's request checks (ngx_http_parse.c, ngx_http_request.c) on a parsed request,
 * in nginx's order: the request line (syntax, version, then the URI), each header line as
 * it arrives, then the header block as a whole. Returns the refusal nginx would send, or
 * undefined when nginx would route the request (then it is the 404 or a knock step).
 */
export function judge(shape: RequestShape): Verdict | undefined {
  const { method, target, major, minor, rawHeaders } = shape;
  if (target.length + method.length + 12 > NGINX_LIMITS.headerBuffer) {
    return refusal(PAGES.uriTooLarge);
  }
  const origin = target.startsWith("/");
  if (!origin && !ABSOLUTE.test(target)) return refusal(PAGES.badRequest);
  if (major === 0 && minor === 9) {
    // HTTP/0.9 has GET only; the answer is a bare body and the connection closes.
    const ok = method === "GET" && checkTarget(target) === undefined;
    const page = ok ? PAGES.notFound : PAGES.badRequest;
    return { page, keepAlive: false, bodyOnly: true, padded: false, linger: false };
  }
  if (major > 1) return refusal(PAGES.versionNotSupported);
  if (major < 1) return refusal(PAGES.badRequest);
  const targetProblem = checkTarget(target);
  if (targetProblem !== undefined) return refusal(targetProblem);
  let agent: string | undefined;
  let hosts = 0;
  let lengths = 0;
  let length = "";
  let encoding: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i] ?? "";
    const value = rawHeaders[i + 1] ?? "";
    if (raw.length + value.length + 4 > NGINX_LIMITS.headerBuffer) {
      return refusal(PAGES.headerTooLarge, browserPadding(agent));
    }
    // Only names of the lengths checked below are lower-cased: this runs on every request.
    const name = WATCHED_LENGTHS.has(raw.length) ? raw.toLowerCase() : "";
    if (name === "host") {
      hosts += 1;
      if (hosts > 1 || !validHost(value)) return refusal(PAGES.badRequest, browserPadding(agent));
    } else if (name === "user-agent") {
      agent ??= value;
    } else if (name === "content-length") {
      lengths += 1;
      length = value;
    } else if (name === "transfer-encoding") {
      // A second Transfer-Encoding line is a 400 as soon as nginx reads it.
      if (encoding !== undefined) return refusal(PAGES.badRequest, browserPadding(agent));
      encoding = value;
    }
  }
  const padded = browserPadding(agent);
  if (hosts === 0 && minor >= 1 && origin) {
    return refusal(PAGES.badRequest, padded);
  }
  if (lengths > 1 || (lengths === 1 && !/^\d+$/.test(length))) {
    return refusal(PAGES.badRequest, padded);
  }
  if (encoding !== undefined) {
    if (minor === 0 || lengths > 0) return refusal(PAGES.badRequest, padded);
    if (encoding.toLowerCase() !== "chunked") return refusal(PAGES.notImplemented, padded);
  }
  if (method === "TRACE") return refusal(PAGES.notAllowed, padded);
  if (lengths === 1 && Number(length) > NGINX_LIMITS.maxBody) {
    return refusal(PAGES.entityTooLarge, padded, true);
  }
  return undefined;
}

/** nginx's URI checks: origin or absolute form, escapes, NUL, and `..` above the root. */
function checkTarget(target: string): NginxPage | undefined {
  let path = target;
  if (!target.startsWith("/")) {
    const absolute = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(target);
    if (absolute === null) return PAGES.badRequest;
    const authority = absolute[1] ?? "";
    if (!validHost(authority.slice(authority.lastIndexOf("@") + 1))) return PAGES.badRequest;
    path = target.slice(absolute[0].length) || "/";
    if (!path.startsWith("/")) return PAGES.badRequest;
  }
  let end = path.length;
  for (let i = 0; i < path.length; i += 1) {
    const code = path.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return PAGES.badRequest;
    // The path ends at the query or fragment; only the path is decoded and walked.
    if ((code === 0x3f || code === 0x23) && end === path.length) end = i;
  }
  return validPath(end === path.length ? path : path.slice(0, end)) ? undefined : PAGES.badRequest;
}

/**
 * Decodes %XX escapes the way ngx_http_parse_complex_uri does (a bad escape or a decoded
 * NUL is a 400) and walks the segments: a `..` that climbs above the root is a 400.
 */
function validPath(path: string): boolean {
  if (!path.includes("%") && !path.includes("/.")) return true;
  let decoded = "";
  for (let i = 0; i < path.length; i += 1) {
    const ch = path.charAt(i);
    if (ch !== "%") {
      decoded += ch;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9a-f]{2}$/i.test(hex)) return false;
    const code = parseInt(hex, 16);
    if (code === 0) return false;
    decoded += String.fromCharCode(code);
    i += 2;
  }
  let depth = 0;
  for (const segment of decoded.split("/").slice(1)) {
    if (segment === "..") {
      depth -= 1;
      if (depth < 0) return false;
    } else if (segment !== "." && segment !== "") depth += 1;
  }
  return true;
}

/** ngx_http_validate_host: no empty host, no `..`, no `/`, no control characters or spaces. */
export function validHost(host: string): boolean {
  let end = host.length;
  let dot = -2;
  let literal = false;
  for (let i = 0; i < end; i += 1) {
    const code = host.charCodeAt(i);
    if (code === 0x2e) {
      if (dot === i - 1) return false;
      dot = i;
    } else if (code === 0x3a && !literal) {
      end = i;
    } else if (code === 0x5b && i === 0) {
      literal = true;
    } else if (code === 0x5d && literal) {
      end = i + 1;
    } else if (code === 0x2f || code <= 0x20 || code === 0x7f) {
      return false;
    }
  }
  if (dot === end - 1) end -= 1;
  return end > 0;
}

/** HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 only when told `keep-alive`. */
export function keepsAlive(shape: RequestShape): boolean {
  let connection = "";
  for (let i = 0; i < shape.rawHeaders.length; i += 2) {
    if ((shape.rawHeaders[i] ?? "").toLowerCase() === "connection") {
      connection = (shape.rawHeaders[i + 1] ?? "").toLowerCase();
    }
  }
  if (shape.minor >= 1) return !/(^|,)\s*close\s*(,|$)/.test(connection);
  return /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
}

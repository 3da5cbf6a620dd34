/**
 * The bytes Debian 12's nginx 1.22.1 sends with `server_tokens off`, captured from a real
 * nginx-light on loopback (test/stealth/nginx.system.test.ts compares them again on every
 * run). Everything here is computed once at start-up; a response costs one Date lookup.
 */

/** An error page nginx can answer with: status code, reason phrase and body. */
export interface NginxPage {
  /** Status code on the wire (494 is nginx's internal code for RHOCTL; it sends 400). */
  readonly status: number;
  /** nginx's reason phrase, which differs from Node's for 405, 413, 414 and 504. */
  readonly reason: string;
  /** The HTML body, CRLF line ends as nginx writes them. */
  readonly body: Buffer;
  /** The body with msie_padding, sent to MSIE and Chrome user agents (see browserPadding). */
  readonly paddedBody: Buffer;
}

/** Every page the nginx profile answers with, keyed by a stable name. */
export type PageName =
  | "notFound"
  | "badRequest"
  | "headerTooLarge"
  | "notAllowed"
  | "entityTooLarge"
  | "uriTooLarge"
  | "notImplemented"
  | "badGateway"
  | "gatewayTimeout"
  | "versionNotSupported";

/** ngx_http_msie_padding: 512 bytes that stop MSIE and Chrome from showing their own page. */
const MSIE_PADDING = "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n".repeat(
  6,
);

/**
 * Whether nginx pads its error pages for this User-Agent (ngx_http_process_user_agent:
 * "MSIE " with at least three more bytes, or "Chrome/" without "Gecko/"; never "Opera").
 * Every Chrome browser gets a 548-byte 404 from nginx, so the decoy must too.
 */
export function browserPadding(userAgent: string | undefined): boolean {
  if (userAgent === undefined || userAgent.includes("Opera")) return false;
  const msie = userAgent.indexOf("MSIE ");
  if (msie !== -1 && msie + 7 < userAgent.length) return true;
  return !userAgent.includes("Gecko/") && userAgent.includes("Chrome/");
}

function page(status: number, reason: string, detail?: string): NginxPage {
  const title = `${String(status)} ${detail ?? reason}`;
  const extra = detail === undefined ? "" : `<center>${detail}</center>\r\n`;
  const html =
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n` +
    `<center><h1>${String(status)} ${reason}</h1></center>\r\n${extra}` +
    `<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  return Object.freeze({
    status,
    reason,
    body: Buffer.from(html, "latin1"),
    paddedBody: Buffer.from(html + MSIE_PADDING, "latin1"),
  });
}

/** nginx's error pages (src/http/ngx_http_special_response.c), as it sends them. */
export const PAGES: Readonly<Record<PageName, NginxPage>> = Object.freeze({
  notFound: page(404, "Not Found"),
  badRequest: page(400, "Bad Request"),
  headerTooLarge: page(400, "Bad Request", "Request Header Or Cookie Too Large"),
  notAllowed: page(405, "Not Allowed"),
  entityTooLarge: page(413, "Request Entity Too Large"),
  uriTooLarge: page(414, "Request-URI Too Large"),
  notImplemented: page(501, "Not Implemented"),
  badGateway: page(502, "Bad Gateway"),
  gatewayTimeout: page(504, "Gateway Time-out"),
  versionNotSupported: page(505, "HTTP Version Not Supported"),
});

let dateSecond = -1;
let dateText = "";

/**
 * The current time as an HTTP date, recomputed at most once a second (nginx caches its
 * time the same way), so the flood path does not format a date per request.
 */
export function httpDate(nowMs = Date.now()): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/**
 * nginx's header block in nginx's order and case, as a flat [name, value, ...] list for
 * `res.writeHead`: Server, Date, Content-Type, Content-Length, Connection.
 */
export function pageHeaders(p: NginxPage, keepAlive: boolean, padded = false): string[] {
  return [
    "Server",
    "nginx",
    "Date",
    httpDate(),
    "Content-Type",
    "text/html",
    "Content-Length",
    String(padded ? p.paddedBody.length : p.body.length),
    "Connection",
    keepAlive ? "keep-alive" : "close",
  ];
}

/** The whole response as bytes, for sockets Node's HTTP layer no longer drives. */
export function pageBytes(
  p: NginxPage,
  keepAlive: boolean,
  withBody = true,
  padded = false,
): Buffer {
  const h = pageHeaders(p, keepAlive, padded);
  let head = `HTTP/1.1 ${String(p.status)} ${p.reason}\r\n`;
  for (let i = 0; i < h.length; i += 2) head += `${h[i] ?? ""}: ${h[i + 1] ?? ""}\r\n`;
  const headBytes = Buffer.from(`${head}\r\n`, "latin1");
  if (!withBody) return headBytes;
  return Buffer.concat([headBytes, padded ? p.paddedBody : p.body]);
}

import { browserPadding, PAGES } from "./nginx-pages.js";
import { judge, keepsAlive, NGINX_LIMITS, type RequestShape, type Verdict } from "./nginx-rules.js";

/** What to do with a connection whose bytes Node's parser refused. */
export type RawVerdict =
  | { readonly kind: "answer"; readonly verdict: Verdict; readonly head: boolean }
  /** Wait for more bytes: nginx has not seen a whole header block yet. */
  | { readonly kind: "incomplete" }
  /** Close without a word, as nginx does on a timeout or a client that went away. */
  | { readonly kind: "close" };

const REQUEST_LINE = /^([A-Z_-]+) +([^ \r\n]+)(?: +HTTP\/(\d+)\.(\d+))? *\r?\n/;

/**
 * Node's parser (llhttp) is stricter than nginx's in places (unknown methods, `HTTP/1.2`,
 * bare LF line ends, bytes above 0x7f in the path) and looser in others. When it gives up
 * on a request, this reads the bytes again with nginx's rules and says what nginx answers.
 */
export function judgeRaw(code: string | undefined, raw: Buffer): RawVerdict {
  if (code === "ERR_HTTP_REQUEST_TIMEOUT" || code === "ECONNRESET") return { kind: "close" };
  if (code === "HPE_INVALID_EOF_STATE") return { kind: "close" };
  if (code === "HPE_HEADER_OVERFLOW") {
    const firstLine = raw.indexOf(0x0a);
    const page =
      firstLine === -1 || firstLine >= NGINX_LIMITS.headerBuffer
        ? PAGES.uriTooLarge
        : PAGES.headerTooLarge;
    const verdict: Verdict = {
      page,
      keepAlive: false,
      bodyOnly: false,
      padded: false,
      linger: false,
    };
    return { kind: "answer", verdict, head: false };
  }
  const text = raw.toString("latin1").replace(/^(\r?\n)+/, "");
  const line = REQUEST_LINE.exec(text);
  const bad = {
    kind: "answer",
    verdict: {
      page: PAGES.badRequest,
      keepAlive: false,
      bodyOnly: false,
      padded: false,
      linger: false,
    },
    head: false,
  } as const;
  if (line === null) return bad;
  const [whole, method = "", target = "", major, minor] = line;
  if (major === undefined) {
    // HTTP/0.9: nginx answers as soon as the request line is in.
    const verdict = judge({ method, target, major: 0, minor: 9, rawHeaders: [] });
    return verdict === undefined ? bad : { kind: "answer", verdict, head: false };
  }
  const rest = text.slice(whole.length);
  const end = /\r?\n\r?\n|^\r?\n/.exec(rest);
  if (end === null) return { kind: "incomplete" };
  const rawHeaders: string[] = [];
  for (const headerLine of rest.slice(0, end.index).split(/\r?\n/)) {
    if (headerLine === "") continue;
    const colon = headerLine.indexOf(":");
    const name = colon === -1 ? headerLine : headerLine.slice(0, colon);
    // nginx refuses spaces and control characters in a name, and folded lines.
    if (colon <= 0 || hasControl(name)) return bad;
    rawHeaders.push(name, headerLine.slice(colon + 1).trim());
  }
  const shape: RequestShape = {
    method,
    target,
    major: Number(major),
    minor: Number(minor),
    rawHeaders,
  };
  const verdict = judge(shape) ?? {
    page: PAGES.notFound,
    keepAlive: keepsAlive(shape),
    bodyOnly: false,
    padded: browserPadding(header(rawHeaders, "user-agent")),
    linger: false,
  };
  return { kind: "answer", verdict, head: method === "HEAD" };
}

function header(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] ?? "").toLowerCase() === name) return rawHeaders[i + 1];
  }
  return undefined;
}

/** Spaces, control characters and DEL: never part of a header name for nginx. */
function hasControl(name: string): boolean {
  for (let i = 0; i < name.length; i += 1) {
    const code = name.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return true;
  }
  return false;
}

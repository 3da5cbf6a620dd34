import type { OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { captureHelmetHeaders } from "./security-headers.js";

/** An nginx-like 404: the most common answer on the internet, so it tells a scanner nothing. */
const DECOY_BODY = Buffer.from(
  "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
);

/** The decoy's own CSP: it has no scripts, styles or images at all. */
const DECOY_CSP_DIRECTIVES = {
  defaultSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
};

/**
 * The one response every non-step path, every intermediate step and every refused
 * probe of a last step gets. Headers are computed once (helmet's, captured at start-up)
 * and written straight to the socket, so the flood path costs no router and no
 * middleware, and every decoy is byte-identical apart from Date.
 */
export interface Decoy {
  readonly status: 404;
  readonly headers: Readonly<OutgoingHttpHeaders>;
  readonly body: Buffer;
  send(res: ServerResponse): void;
}

/** Builds the decoy with helmet's headers. */
export function createDecoy(): Decoy {
  const headers: OutgoingHttpHeaders = {
    ...captureHelmetHeaders({
      contentSecurityPolicy: { useDefaults: false, directives: DECOY_CSP_DIRECTIVES },
    }),
    "content-type": "text/html",
    "content-length": String(DECOY_BODY.length),
    "cache-control": "no-store",
  };
  // The same headers as a flat [name, value, ...] list in the same order: writeHead walks
  // it with an index instead of a for-in over an object, and the bytes are identical.
  const flat: OutgoingHttpHeader[] = [];
  for (const [name, value] of Object.entries(headers)) flat.push(name, value as OutgoingHttpHeader);
  return {
    status: 404,
    headers,
    body: DECOY_BODY,
    send(res) {
      if (res.headersSent) return;
      // Drop anything an earlier layer (helmet on a step path) set, so every decoy is identical.
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.writeHead(404, flat);
      res.end(DECOY_BODY);
    },
  };
}

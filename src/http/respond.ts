import { randomBytes } from "node:crypto";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import accepts from "accepts";
import { captureHelmetHeaders } from "./security-headers.js";
import type { ViewName, Views } from "./views.js";

/** One answer of a page webknock itself serves, in both of its forms. */
export interface PageAnswer {
  /** HTTP status, the same for both forms. */
  readonly status: number;
  /** The JSON body, for a client that asks for `application/json`. */
  readonly json: unknown;
  /** The template for everyone else (browsers, curl's default). */
  readonly view: ViewName;
  /** The page title. */
  readonly title: string;
  /** Template values; `title` and the CSP `nonce` are added. */
  readonly values?: Readonly<Record<string, string | number>>;
  /** Trusted text for `{{{slots}}}` (the WebAuthn bundle), inserted as is. */
  readonly trusted?: Readonly<Record<string, string>>;
}

/** Sends a page answer as JSON or HTML, whichever the request asks for. */
export type Respond = (req: IncomingMessage, res: ServerResponse, answer: PageAnswer) => void;

/**
 * The security headers of every page webknock serves (challenge, result, outage), minus
 * the CSP, which carries a fresh nonce per response and is written by `respond`.
 */
const PAGE_HEADERS: Readonly<OutgoingHttpHeaders> = {
  ...captureHelmetHeaders({
    contentSecurityPolicy: false,
    referrerPolicy: { policy: "no-referrer" },
  }),
  "cache-control": "no-store",
};

/** The pages' CSP: only the inline style and script carrying this response's nonce. */
function contentSecurityPolicy(nonce: string): string {
  return (
    `default-src 'none';style-src 'nonce-${nonce}';script-src 'nonce-${nonce}';` +
    "form-action 'self';base-uri 'none';frame-ancestors 'none'"
  );
}

/** Builds the one helper that answers JSON or HTML for every page. */
export function createResponder(views: Views): Respond {
  return (req, res, answer) => {
    if (res.headersSent) return;
    const nonce = randomBytes(16).toString("base64");
    const json = wantsJson(req);
    const body = Buffer.from(
      json
        ? JSON.stringify(answer.json)
        : views.render(
            answer.view,
            { ...answer.values, title: answer.title, nonce },
            answer.trusted,
          ),
    );
    res.writeHead(answer.status, {
      "content-security-policy": contentSecurityPolicy(nonce),
      ...PAGE_HEADERS,
      "content-type": json ? "application/json; charset=utf-8" : "text/html; charset=utf-8",
      "content-length": String(body.length),
    });
    res.end(body);
  };
}

/** JSON when the client asks for it (Accept: application/json); HTML otherwise, curl's default included. */
function wantsJson(req: IncomingMessage): boolean {
  return accepts(req).type(["html", "json"]) === "json";
}

import type { IncomingMessage, ServerResponse } from "node:http";
import type { GrantRecord } from "../store/types.js";
import type { Respond } from "./respond.js";

/** How a knocker closes a grant: POST `close=TOKEN` to `url` (the door's last step path). */
export interface CloseOffer {
  /** The path to POST to, on the gateway's own origin. */
  readonly url: string;
  /** The close token; works once, from the granted IP only, while the grant is live. */
  readonly token: string;
}

/** The result page's values for its **Close now** form (escaped by the views). */
export function closeValues(offer: CloseOffer): Record<string, string> {
  return { closeAction: offer.url, closeToken: offer.token };
}

/** A grant closed at its knocker's request: `{"closed": ...}`, or the "Closed" page. */
export function answerClosed(
  respond: Respond,
  req: IncomingMessage,
  res: ServerResponse,
  grant: GrantRecord,
): void {
  const ports = grant.ports.map((p) => `${p.proto}/${p.port}`);
  respond(req, res, {
    status: 200,
    json: { closed: { door: grant.door, ip: grant.ip, ports } },
    view: "closed",
    title: "Closed",
    values: { ports: ports.join(", "), ip: grant.ip },
  });
}

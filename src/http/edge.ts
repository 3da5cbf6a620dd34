import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { KnockEngine } from "../knock/engine.js";
import type { Decoy } from "./decoy.js";

/** Longer URLs are noise; no knock path is longer than 200 characters. */
const MAX_URL_LENGTH = 2048;

/**
 * The HTTP edge: a plain node:http listener that answers every request for a path
 * that is not a knock step with the precomputed decoy, before Express, routing or
 * the store are involved. Only step paths reach the knock app.
 */
export function createEdgeHandler(
  engine: KnockEngine,
  knockApp: (req: IncomingMessage, res: ServerResponse) => void,
  decoy: Decoy,
): RequestListener {
  return (req, res) => {
    const url = req.url ?? "";
    if (url.length > MAX_URL_LENGTH) {
      decoy.send(res);
      return;
    }
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (engine.lookup(path) === undefined) {
      decoy.send(res);
      return;
    }
    knockApp(req, res);
  };
}

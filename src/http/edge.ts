import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { KnockEngine } from "../knock/engine.js";
import type { Stranger } from "../stealth/stranger.js";

/** Longer URLs are noise; no knock path is longer than 200 characters. */
const MAX_URL_LENGTH = 2048;

/**
 * The HTTP edge: a plain node:http listener that hands every request for a path that
 * is not a knock step to the stranger (nginx's answers, or the upstream site), before
 * Express, routing or the store are involved. Only step paths reach the knock app.
 * `onUnknownPath` (the scanner detector) sees every miss; it must be synchronous,
 * bounded and do no I/O.
 */
export function createEdgeHandler(
  engine: KnockEngine,
  knockApp: (req: IncomingMessage, res: ServerResponse) => void,
  stranger: Stranger,
  onUnknownPath?: (req: IncomingMessage, path: string) => void,
): RequestListener {
  return (req, res) => {
    // What the front server refuses (bad escapes, TRACE...) it refuses on every path.
    if (stranger.refuse(req, res)) return;
    const url = req.url ?? "";
    if (url.length > MAX_URL_LENGTH) {
      onUnknownPath?.(req, url.slice(0, MAX_URL_LENGTH));
      stranger.answer(req, res);
      return;
    }
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (engine.lookup(path) === undefined) {
      onUnknownPath?.(req, path);
      stranger.answer(req, res);
      return;
    }
    knockApp(req, res);
  };
}

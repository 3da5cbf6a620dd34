import type { IncomingMessage, ServerResponse } from "node:http";
import type { Stranger as FrontServer } from "../stealth/stranger.js";

/**
 * What a stranger sees, as the step handlers ask for it: every answer that refuses
 * something ends at the front server (src/stealth: nginx's bytes or the upstream site),
 * so stealth is decided once. It carries no security headers; those belong on
 * webknock's own pages, not on an answer that must look like every other nginx 404.
 */
export interface Stranger {
  /**
   * A request for a path that is not a knock step. Noted by the scanner detector (no I/O)
   * and answered at once with the decoy; the body, if any, is never read.
   */
  unknownPath(req: IncomingMessage, res: ServerResponse, path: string): void;
  /**
   * A request on a step path that gets nothing here (wrong method, no live challenge, no
   * client IP, the sequence not complete). Answered exactly like `unknownPath`, but not
   * counted as a scanner's miss: the path is a real one.
   */
  refuse(res: ServerResponse): void;
}

/** The stranger's answers from the front server and the scanner detector's hook. */
export function createStranger(
  front: FrontServer,
  onUnknownPath?: (req: IncomingMessage, path: string) => void,
): Stranger {
  // A handler that already answered (an error after a partial reply) is left alone.
  const answer = (res: ServerResponse) => {
    if (!res.headersSent) front.answer(res.req, res);
  };
  return {
    unknownPath(req, res, path) {
      onUnknownPath?.(req, path);
      answer(res);
    },
    refuse: answer,
  };
}

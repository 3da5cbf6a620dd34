import type { IncomingMessage, ServerResponse } from "node:http";
import type { Decoy } from "./decoy.js";

/**
 * What a stranger sees, in one place: every answer that refuses something ends here, so
 * stealth is decided once. Today that is the decoy; an upstream proxy or another decoy
 * profile plugs in behind the same two calls.
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

/** The stranger's answers from a decoy and the scanner detector's hook. */
export function createStranger(
  decoy: Decoy,
  onUnknownPath?: (req: IncomingMessage, path: string) => void,
): Stranger {
  return {
    unknownPath(req, res, path) {
      onUnknownPath?.(req, path);
      decoy.send(res);
    },
    refuse(res) {
      decoy.send(res);
    },
  };
}

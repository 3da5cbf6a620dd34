import type { IncomingMessage, ServerResponse } from "node:http";
import type { KnockEngine } from "../knock/engine.js";
import type { ClientIpResolver } from "./client-ip.js";
import type { Decoy } from "./decoy.js";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Marks a request whose step already failed on the fast path, so the knock app answers
 * with its usual failure response (503 on a store outage) without a second round trip.
 */
export const STEP_FAILURE: unique symbol = Symbol("webknock.stepFailure");

/** A request that may carry the fast path's failure. */
export type MaybeFailedStep = IncomingMessage & { [STEP_FAILURE]?: unknown };

/**
 * Serves a GET of an intermediate step (any step but a door's last) without Express.
 * Such a GET always ends in the decoy: only the last step can issue a challenge
 * (ADVANCE_SCRIPT and MemoryStore.advanceNow), so the knock app's router, helmet and
 * nonce would be computed only to be removed again by `decoy.send`. The answer and the
 * store round trip are the same as through the knock app. Every other request (last
 * steps, HEAD, POST, other methods) goes to the knock app; so does a failed step, marked
 * with STEP_FAILURE, so the knock app answers it (503 on an outage) without retrying.
 */
export function withStepFastPath(
  knockApp: Listener,
  deps: {
    readonly engine: KnockEngine;
    readonly decoy: Decoy;
    readonly clientIp: ClientIpResolver;
  },
): Listener {
  const { engine, decoy, clientIp } = deps;
  return (req, res) => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const step =
      req.method === "GET" ? engine.lookup(query === -1 ? url : url.slice(0, query)) : undefined;
    if (step === undefined || step.last) {
      knockApp(req, res);
      return;
    }
    const ip = clientIp(req);
    if (ip === undefined) {
      decoy.send(res);
      return;
    }
    engine.step(step, ip).then(
      () => {
        decoy.send(res);
      },
      (error: unknown) => {
        (req as MaybeFailedStep)[STEP_FAILURE] = error ?? new Error("step failed");
        knockApp(req, res);
      },
    );
  };
}

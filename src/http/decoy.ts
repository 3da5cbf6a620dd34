import type { ServerResponse } from "node:http";
import { createStranger, type Stranger } from "../stealth/stranger.js";

/**
 * The answer every refused knock gets (an intermediate step, a last step without a live
 * challenge, a method or body the step does not take): exactly what a stranger's request
 * for a random path gets, so no answer tells a door path from noise. It carries no
 * security headers; those belong on webknock's own pages, not on a 404 that must look
 * like every other nginx 404 on the internet.
 */
export interface Decoy {
  /** Answers the response's request as a stranger's (removes headers set earlier). */
  send(res: ServerResponse): void;
}

/** The decoy of a stranger profile; nginx's 404 when none is given (tests, benchmarks). */
export function createDecoy(stranger: Stranger = createStranger({ decoy: "nginx" })): Decoy {
  return {
    send(res) {
      if (res.headersSent) return;
      stranger.answer(res.req, res);
    },
  };
}

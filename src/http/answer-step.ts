import type { IncomingMessage, ServerResponse } from "node:http";
import type { KnockEngine, StepRef } from "../knock/engine.js";
import type { Logger } from "../log.js";
import type { AnswerError } from "./answer-error.js";
import type { Respond } from "./respond.js";
import type { Stranger } from "./stranger.js";
import { webauthnBrowserBundle } from "../passkey/browser-bundle.js";
import { requestOptions } from "../passkey/webauthn.js";

/** Answers a request the edge routed to a step; the step and IP are the edge's lookup. */
export type StepHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  step: StepRef,
  ip: string,
) => void;

/** What the step handlers need. */
export interface StepHandlerDeps {
  readonly engine: KnockEngine;
  readonly stranger: Stranger;
  readonly respond: Respond;
  readonly answerError: AnswerError;
}

/**
 * Intermediate steps recorded at once at most. The answer no longer waits for the store,
 * so nothing else stops a flood on a step path from queueing store calls without bound
 * (memory, and CPU spent on a backlog). Past this, steps are not recorded: the flood gets
 * the same decoy, and a person knocking during it simply knocks again (fail closed).
 * 512 is far above what a loopback Redis has in flight at its full rate.
 */
export const MAX_PENDING_STEPS = 512;

/**
 * GET of an intermediate step. Its answer never depends on the store (only a last step
 * issues a challenge), so the stranger's answer goes out first and the step is recorded
 * after: the timing is a random path's, and a store outage changes nothing a client
 * sees. A lost step is logged; the client's next step finds its progress missing.
 */
export function createAdvance(deps: StepHandlerDeps & { readonly log: Logger }): StepHandler {
  const { engine, stranger, log } = deps;
  let pending = 0;
  let overloaded = false;
  return (_req, res, step, ip) => {
    stranger.refuse(res);
    if (pending >= MAX_PENDING_STEPS) {
      if (!overloaded) {
        overloaded = true;
        log.warn(
          { event: "step-overload", pending },
          "too many knock steps waiting for the store; further steps are not recorded",
        );
      }
      return;
    }
    pending++;
    engine
      .step(step, ip)
      .catch((error: unknown) => {
        log.error({ event: "unavailable", err: error, ip }, "a knock step was not recorded");
      })
      .finally(() => {
        pending--;
        if (pending < MAX_PENDING_STEPS / 2) overloaded = false;
      });
  };
}

/** GET of a last step: the challenge page when the sequence is complete, else the decoy. */
export function createAnswerStep(deps: StepHandlerDeps): StepHandler {
  const { engine, stranger, respond, answerError } = deps;
  return (req, res, step, ip) => {
    engine
      .step(step, ip)
      .then(async (result) => {
        if (result.kind === "decoy") {
          stranger.refuse(res);
          return;
        }
        const values = {
          action: result.door.sequence[step.index] ?? "",
          challenge: result.token,
          expiresIn: result.expiresInSeconds,
        };
        const json = {
          door: result.door.name,
          challenge: result.token,
          expiresIn: result.expiresInSeconds,
        };
        const rp = engine.relyingParty;
        if (rp === undefined || !engine.offersPasskey(result.door)) {
          respond(req, res, { status: 200, json, view: "challenge", title: TITLE, values });
          return;
        }
        // The knock challenge is the WebAuthn challenge: an assertion answers this one only.
        const options = await requestOptions(rp, result.token, result.door.challengeTimeoutMs);
        respond(req, res, {
          status: 200,
          json: { ...json, passkey: options },
          view: "challenge-passkey",
          title: TITLE,
          values: { ...values, options: JSON.stringify(options) },
          trusted: { webauthn: webauthnBrowserBundle() },
        });
      })
      .catch((error: unknown) => {
        answerError(req, res, error, ip);
      });
  };
}

const TITLE = "Enter your code";

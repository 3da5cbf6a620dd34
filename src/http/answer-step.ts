import type { IncomingMessage, ServerResponse } from "node:http";
import type { KnockEngine, StepRef } from "../knock/engine.js";
import type { AnswerError } from "./answer-error.js";
import type { Respond } from "./respond.js";
import type { Stranger } from "./stranger.js";

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
 * GET of an intermediate step. Its answer is always the stranger's (only a last step
 * issues a challenge), so no page is built; the store round trip decides only whether a
 * store outage is reported.
 */
export function createAdvance(deps: StepHandlerDeps): StepHandler {
  const { engine, stranger, answerError } = deps;
  return (req, res, step, ip) => {
    engine.step(step, ip).then(
      () => {
        stranger.refuse(res);
      },
      (error: unknown) => {
        answerError(req, res, error, ip);
      },
    );
  };
}

/** GET of a last step: the challenge page when the sequence is complete, else the decoy. */
export function createAnswerStep(deps: StepHandlerDeps): StepHandler {
  const { engine, stranger, respond, answerError } = deps;
  return (req, res, step, ip) => {
    engine.step(step, ip).then(
      (result) => {
        if (result.kind === "decoy") {
          stranger.refuse(res);
          return;
        }
        respond(req, res, {
          status: 200,
          json: {
            door: result.door.name,
            challenge: result.token,
            expiresIn: result.expiresInSeconds,
          },
          view: "challenge",
          title: "Enter your code",
          values: {
            action: result.door.sequence[step.index] ?? "",
            challenge: result.token,
            expiresIn: result.expiresInSeconds,
          },
        });
      },
      (error: unknown) => {
        answerError(req, res, error, ip);
      },
    );
  };
}

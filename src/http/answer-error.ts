import type { IncomingMessage, ServerResponse } from "node:http";
import { FirewallError, StoreUnavailableError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Respond } from "./respond.js";
import type { Stranger } from "./stranger.js";

/** Answers a failed step or redemption. */
export type AnswerError = (
  req: IncomingMessage,
  res: ServerResponse,
  error: unknown,
  ip: string,
) => void;

/**
 * Outages (store, firewall) fail closed with a 503 page, as a user needs to know the knock
 * did not go through. Anything else (a body the parser refused, an unexpected bug) carries
 * no live challenge worth revealing: the stranger's answer.
 */
export function createAnswerError(deps: {
  readonly respond: Respond;
  readonly stranger: Stranger;
  readonly log: Logger;
}): AnswerError {
  const { respond, stranger, log } = deps;
  return (req, res, error, ip) => {
    if (error instanceof StoreUnavailableError || error instanceof FirewallError) {
      log.error({ event: "unavailable", err: error, ip }, "failing closed");
      respond(req, res, {
        status: 503,
        json: { error: "unavailable" },
        view: "unavailable",
        title: "Unavailable",
      });
      return;
    }
    if (!isClientError(error)) log.error({ err: error }, "unexpected error; answering the decoy");
    stranger.refuse(res);
  };
}

/** A 4xx from the body parser (too large, malformed, unsupported charset). */
function isClientError(error: unknown): boolean {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" && status >= 400 && status < 500;
}

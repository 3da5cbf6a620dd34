import type { IncomingMessage, ServerResponse } from "node:http";
import type { RedeemResult, Redemption } from "../knock/engine.js";
import type { StepHandler, StepHandlerDeps } from "./answer-step.js";
import { readBody } from "./body.js";

/** What a POST without a live challenge gets, as the engine's own refusal. */
const REFUSED: RedeemResult = Object.freeze({ kind: "decoy" });

/** POST of a last step: reads the form and redeems the challenge in it. */
export function createAnswerRedeem(deps: StepHandlerDeps): StepHandler {
  const { engine, stranger, respond, answerError } = deps;
  const answer = (req: IncomingMessage, res: ServerResponse, result: RedeemResult): void => {
    switch (result.kind) {
      case "decoy":
        stranger.refuse(res);
        return;
      case "denied":
        respond(req, res, {
          status: 403,
          json: { error: "denied" },
          view: "denied",
          title: "Not opened",
        });
        return;
      case "granted": {
        const { grant } = result;
        const granted = {
          door: grant.door,
          ip: grant.ip,
          ports: grant.ports.map((p) => `${p.proto}/${p.port}`),
          openFor: Math.round((grant.expiresAt - grant.grantedAt) / 1000),
          expiresAt: new Date(grant.expiresAt).toISOString(),
          hosts: result.hosts,
        };
        respond(req, res, {
          status: 200,
          json: { granted },
          view: "granted",
          title: "Open",
          values: {
            ports: granted.ports.join(", "),
            ip: granted.ip,
            openFor: granted.openFor,
            expiresAtIso: granted.expiresAt,
            // Shown without JavaScript; the page's script swaps in the phone's local time.
            expiresAtText: `${granted.expiresAt.slice(11, 19)} UTC`,
          },
        });
      }
    }
  };
  return (req, res, step, ip) => {
    // Without a live challenge for this door and IP the body is never read: the answer is
    // the stranger's, as at once as on a random path, whatever the body's size or pace.
    engine
      .hasChallenge(step, ip)
      .then((live) =>
        live ? readForm(req, res).then((form) => engine.redeem(step, ip, form)) : REFUSED,
      )
      .then(
        (result) => {
          answer(req, res, result);
        },
        (error: unknown) => {
          answerError(req, res, error, ip);
        },
      );
  };
}

/** The fields of a redemption; anything else in the body is ignored. */
async function readForm(req: IncomingMessage, res: ServerResponse): Promise<Redemption> {
  const body = await readBody(req, res);
  return { challenge: body.challenge, user: body.user, code: body.code, passkey: body.passkey };
}

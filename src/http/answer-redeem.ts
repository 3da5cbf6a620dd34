import type { IncomingMessage, ServerResponse } from "node:http";
import type {
  CloseResult,
  KnockEngine,
  PostState,
  RedeemResult,
  Redemption,
  StepRef,
} from "../knock/engine.js";
import { LOCAL_HOST } from "../fleet/keys.js";
import type { HostState } from "../fleet/publisher.js";
import { answerClosed, closeValues } from "./answer-close.js";
import type { StepHandler, StepHandlerDeps } from "./answer-step.js";
import { readBody } from "./body.js";
import type { ViewValues } from "./views.js";

/** What a POST without a live challenge gets, as the engine's own refusal. */
const REFUSED: RedeemResult = Object.freeze({ kind: "decoy" });

/**
 * POST of a last step: reads the form and redeems the challenge in it, or closes the
 * caller's grant when the form carries a `close` token. Both live on the one path a
 * stranger cannot tell from any other: without a live challenge or grant for this door
 * and IP, the answer is the decoy and the body is never read.
 */
export function createAnswerRedeem(deps: StepHandlerDeps): StepHandler {
  const { engine, stranger, respond, answerError } = deps;
  const answer = (
    req: IncomingMessage,
    res: ServerResponse,
    result: RedeemResult | CloseResult,
  ): void => {
    switch (result.kind) {
      case "decoy":
        stranger.refuse(res);
        return;
      case "closed":
        answerClosed(respond, req, res, result.grant);
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
          close: { url: pathOf(req), token: result.closeToken },
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
            fleet: hostsSection(result.hosts),
            ...closeValues(granted.close),
          },
        });
      }
    }
  };
  return (req, res, step, ip) => {
    // Without a live challenge for this door and IP the body is never read: the answer is
    // the stranger's, as at once as on a random path, whatever the body's size or pace.
    engine
      .postState(step, ip)
      .then((state) =>
        state.challenge || state.grant ? readAndAct(engine, req, res, step, ip, state) : REFUSED,
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

/**
 * Reads the body and does what it asks: a `close` field closes the grant (and never
 * redeems), anything else is a redemption. What the state rules out is the decoy.
 */
async function readAndAct(
  engine: KnockEngine,
  req: IncomingMessage,
  res: ServerResponse,
  step: StepRef,
  ip: string,
  state: PostState,
): Promise<RedeemResult | CloseResult> {
  const form = await readForm(req, res);
  if (form.close !== undefined) return state.grant ? engine.close(step, ip, form.close) : REFUSED;
  return state.challenge ? engine.redeem(step, ip, form) : REFUSED;
}

/** The request's path, without its query: the step path the form posts back to. */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/** The fields of a redemption and of a close; anything else in the body is ignored. */
async function readForm(
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Redemption & { readonly close: unknown }> {
  const body = await readBody(req, res);
  return {
    challenge: body.challenge,
    user: body.user,
    code: body.code,
    passkey: body.passkey,
    close: body.close,
  };
}

/**
 * The result page's host list, as the JSON has it: one section when the door names an
 * agent's host, none for a door that opens only the gateway's own (nothing to tell).
 */
export function hostsSection(hosts: Readonly<Record<string, HostState>>): ViewValues[] {
  const names = Object.keys(hosts);
  if (names.every((host) => host === LOCAL_HOST)) return [];
  const states = names.map((host) => ({ host, state: hosts[host] ?? "pending" }));
  return [
    {
      hosts: states.map(({ host, state }) => ({
        host,
        state,
        stateClass: state === "open" ? "ok" : "pending",
      })),
      pendingNote: states.some(({ state }) => state === "pending") ? [{}] : [],
    },
  ];
}

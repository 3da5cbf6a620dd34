import type { IncomingMessage, RequestListener } from "node:http";
import type { KnockEngine } from "../knock/engine.js";
import type { Logger } from "../log.js";
import { createAnswerError } from "./answer-error.js";
import { createAnswerRedeem } from "./answer-redeem.js";
import { createAnswerEnroll, type EnrollDeps } from "./answer-enroll.js";
import { createAdvance, createAnswerStep, type StepHandlerDeps } from "./answer-step.js";
import type { ClientIpResolver } from "../net/client-ip.js";
import type { Stranger as FrontServer } from "../stealth/stranger.js";
import { createResponder } from "./respond.js";
import { routeRequest } from "./route.js";
import { createStranger } from "./stranger.js";
import type { Views } from "./views.js";

/** Everything the HTTP edge needs, injected. */
export interface EdgeDeps {
  readonly engine: KnockEngine;
  /**
   * The front server a stranger sees (server.decoy: nginx's answers, or the upstream
   * site): every path that is not a knock step, and every refusal, ends there.
   */
  readonly front: FrontServer;
  readonly views: Views;
  readonly clientIp: ClientIpResolver;
  readonly log: Logger;
  /** The scanner detector's hook: sees every miss; synchronous, bounded, no I/O. */
  readonly onUnknownPath?: (req: IncomingMessage, path: string) => void;
  /** Passkey enrollment URLs; absent when no user has passkeys. */
  readonly enroll?: EnrollDeps;
}

/**
 * The HTTP edge: a plain node:http listener. The request router looks the path up once
 * and hands its decision to one small handler; the router itself holds no business
 * logic. A path that is not a knock step costs one Map lookup and the precomputed decoy.
 */
export function createEdgeHandler(deps: EdgeDeps): RequestListener {
  const { engine, clientIp, log } = deps;
  const { front } = deps;
  const stranger = createStranger(front, deps.onUnknownPath);
  const respond = createResponder(deps.views);
  const answerError = createAnswerError({ respond, stranger, log });
  const leaf: StepHandlerDeps = { engine, stranger, respond, answerError };
  const advance = createAdvance({ ...leaf, log });
  const answerStep = createAnswerStep(leaf);
  const answerRedeem = createAnswerRedeem(leaf);
  const lookup = (path: string) => engine.lookup(path);
  const { enroll } = deps;
  const answerEnroll = enroll && createAnswerEnroll({ ...enroll, respond, stranger, answerError });
  const enrollment = enroll && ((path: string) => enroll.paths.lookup(path));

  return (req, res) => {
    // What the front server refuses (bad escapes, TRACE...) it refuses on every path,
    // door paths included, before any routing.
    if (front.refuse(req, res)) return;
    const route = routeRequest(req, lookup, clientIp, enrollment);
    switch (route.kind) {
      case "unknown":
        stranger.unknownPath(req, res, route.path);
        return;
      case "refuse":
        stranger.refuse(res);
        return;
      case "advance":
        advance(req, res, route.step, route.ip);
        return;
      case "challenge":
        answerStep(req, res, route.step, route.ip);
        return;
      case "redeem":
        answerRedeem(req, res, route.step, route.ip);
        return;
      case "enroll":
        // Routed only when `enroll` is configured.
        answerEnroll?.(req, res, route.enrollment, route.ip);
        return;
    }
  };
}

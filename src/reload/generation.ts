import type { RequestListener } from "node:http";
import type { Clock } from "../clock.js";
import type { GatewayConfig } from "../config/types.js";
import { createDefences, type Defences } from "../defences/index.js";
import { createEdgeHandler } from "../http/edge.js";
import type { Views } from "../http/views.js";
import { KnockEngine, type AttemptLimiter, type KnockObserver } from "../knock/engine.js";
import type { GrantManager } from "../knock/grants.js";
import type { Logger } from "../log.js";
import { createClientIpResolver, type ClientIpResolver } from "../net/client-ip.js";
import type { Stranger } from "../stealth/stranger.js";
import type { LimiterFactory } from "../store/backend.js";
import type { KnockStore } from "../store/types.js";

/** What every generation shares and a reload never rebuilds: state, firewall, listeners' parts. */
export interface SharedParts {
  /** The store (progress, challenges, grants, bans): the same connection across reloads. */
  readonly store: KnockStore;
  /** Counters for the brute-force limiter, on the store's backend. */
  readonly limiters: LimiterFactory;
  /** Opens and closes grants; its queues and sweeper outlive every reload. */
  readonly grants: GrantManager;
  /** What strangers see; attached to the listeners once, so `server.decoy` needs a restart. */
  readonly stranger: Stranger;
  /** The page templates. */
  readonly views: Views;
  readonly now: Clock;
  readonly log: Logger;
  /** A fixed limiter (tests, benchmarks) instead of the one built from `limits`. */
  readonly limiter?: AttemptLimiter;
  /** Metrics hooks, the same registry across reloads. */
  readonly observer?: KnockObserver;
}

/** Everything built from one config: swapped as a whole on reload. */
export interface Generation {
  readonly config: GatewayConfig;
  readonly clientIp: ClientIpResolver;
  readonly defences: Defences;
  readonly engine: KnockEngine;
  /** The edge handler the listeners delegate to while this generation is current. */
  readonly handler: RequestListener;
}

/**
 * Builds the engine and the HTTP edge for `config`. The defences (lockout counters and
 * the scanner's memory) are kept from `previous` when neither `limits` nor
 * `server.trustProxy` changed, so a reload does not forgive anyone's failures.
 */
export function buildGeneration(
  config: GatewayConfig,
  shared: SharedParts,
  previous?: Generation,
): Generation {
  const { store, log, now } = shared;
  const keep =
    previous !== undefined &&
    JSON.stringify(previous.config.limits) === JSON.stringify(config.limits) &&
    JSON.stringify(previous.config.server.trustProxy) === JSON.stringify(config.server.trustProxy);
  const clientIp = keep ? previous.clientIp : createClientIpResolver(config.server.trustProxy);
  const defences = keep
    ? previous.defences
    : createDefences(config, { store, limiters: shared.limiters }, clientIp, log, now);
  const engine = new KnockEngine({
    config,
    store,
    grants: shared.grants,
    now,
    log,
    limiter: shared.limiter ?? defences.limiter,
    observer: shared.observer,
  });
  const handler = createEdgeHandler({
    engine,
    front: shared.stranger,
    views: shared.views,
    clientIp,
    log,
    onUnknownPath: defences.onUnknownPath,
  });
  return { config, clientIp, defences, engine, handler };
}

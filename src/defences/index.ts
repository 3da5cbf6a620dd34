import type { IncomingMessage } from "node:http";
import type { Clock } from "../clock.js";
import type { GatewayConfig } from "../config/types.js";
import type { ClientIpResolver } from "../net/client-ip.js";
import type { AttemptLimiter } from "../knock/engine.js";
import type { Logger } from "../log.js";
import { subjectOf } from "../net/prefix.js";
import type { LimiterFactory } from "../store/backend.js";
import type { KnockStore } from "../store/types.js";
import { RateLimitedAttempts } from "./limiter.js";
import { isDrivenByAnotherPage, ScannerDetector } from "./scanner.js";

/** Scanner bans failing to reach the store are logged at most this often. */
const BAN_ERROR_LOG_INTERVAL_MS = 10_000;

/** The defences the gateway wires in: a limiter for the engine, a hook for the edge. */
export interface Defences {
  readonly limiter: AttemptLimiter;
  readonly scanner: ScannerDetector;
  /**
   * Called by the edge for every request to a path that is not a step; no I/O. Requests
   * a browser made on another page's behalf are not counted (see isDrivenByAnotherPage).
   */
  readonly onUnknownPath: (req: IncomingMessage, path: string) => void;
}

/**
 * Builds the brute-force limiter on the counters the store backend provides (so several
 * gateways sharing a Redis enforce one limit) and the scanner detector, whose bans go
 * to the store.
 */
export function createDefences(
  config: GatewayConfig,
  backend: { readonly store: KnockStore; readonly limiters: LimiterFactory },
  clientIp: ClientIpResolver,
  log: Logger,
  now: Clock,
): Defences {
  const { store } = backend;
  const limiter = new RateLimitedAttempts(config.limits, backend.limiters, log);
  const { scanner: tuning } = config.limits;
  let lastBanError = -Infinity;
  const scanner = new ScannerDetector({
    distinctPaths: tuning.distinctPaths,
    windowMs: tuning.windowMs,
    trackedIps: tuning.trackedIps,
    now,
    onScanner: (ip) => {
      log.warn(
        {
          event: "ban",
          reason: "scanner",
          kind: ip.includes("/") ? "prefix" : "ip",
          ip,
          durationMs: tuning.banMs,
        },
        `banning a scanner for ${Math.round(tuning.banMs / 1000)} s: its knocks are held to a budget`,
      );
      store.ban(ip, tuning.banMs, "scanner").catch((error: unknown) => {
        // The decoy path must not wait on the store; a lost ban only means a scanner
        // keeps knocking (and seeing decoys), so log it and move on.
        if (now() - lastBanError < BAN_ERROR_LOG_INTERVAL_MS) return;
        lastBanError = now();
        log.error({ event: "store-error", err: error, ip }, "could not record a scanner ban");
      });
    },
  });
  return {
    limiter,
    scanner,
    onUnknownPath: (req, path) => {
      if (isDrivenByAnotherPage(req.headers)) return;
      const ip = clientIp(req);
      // Counted per client prefix: 100 addresses of one IPv6 /64 are one scanner.
      if (ip !== undefined) scanner.note(subjectOf(ip, config.limits), path);
    },
  };
}

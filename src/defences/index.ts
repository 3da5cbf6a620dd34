import type { IncomingMessage } from "node:http";
import type { Clock } from "../clock.js";
import type { GatewayConfig } from "../config/types.js";
import type { ClientIpResolver } from "../net/client-ip.js";
import type { AttemptLimiter } from "../knock/engine.js";
import type { Logger } from "../log.js";
import { RedisStore } from "../store/redis.js";
import type { KnockStore } from "../store/types.js";
import { RateLimitedAttempts } from "./limiter.js";
import { watchRedisErrors } from "./redis-errors.js";
import { ScannerDetector } from "./scanner.js";

/** Scanner bans failing to reach the store are logged at most this often. */
const BAN_ERROR_LOG_INTERVAL_MS = 10_000;

/** The defences the gateway wires in: a limiter for the engine, a hook for the edge. */
export interface Defences {
  readonly limiter: AttemptLimiter;
  readonly scanner: ScannerDetector;
  /** Called by the edge for every request to a path that is not a step; no I/O. */
  readonly onUnknownPath: (req: IncomingMessage, path: string) => void;
  /** Detaches listeners. */
  close(): void;
}

/**
 * Builds the brute-force limiter and scanner detector on the same backend as the
 * store (the RedisStore's own client, so several gateways enforce one limit).
 */
export function createDefences(
  config: GatewayConfig,
  store: KnockStore,
  clientIp: ClientIpResolver,
  log: Logger,
  now: Clock,
): Defences {
  const redis = store instanceof RedisStore ? store : undefined;
  const limiter = new RateLimitedAttempts(
    config.limits,
    redis
      ? { kind: "redis", client: redis.client, keyPrefix: redis.keyPrefix }
      : { kind: "memory" },
    log,
  );
  const unwatch = redis ? watchRedisErrors(redis.client, log, now) : () => undefined;
  const { scanner: tuning } = config.limits;
  let lastBanError = -Infinity;
  const scanner = new ScannerDetector({
    distinctPaths: tuning.distinctPaths,
    windowMs: tuning.windowMs,
    trackedIps: tuning.trackedIps,
    now,
    onScanner: (ip) => {
      log.warn(
        { event: "ban", reason: "scanner", kind: "ip", ip, durationMs: tuning.banMs },
        `ignoring knocks from a scanner for ${Math.round(tuning.banMs / 1000)} s`,
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
      const ip = clientIp(req);
      if (ip !== undefined) scanner.note(ip, path);
    },
    close: unwatch,
  };
}

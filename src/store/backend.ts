import type { Redis } from "ioredis";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { Clock } from "../clock.js";
import type { GatewayConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import type { PrefixLengths } from "../net/prefix.js";
import type { RedisKeys } from "./keys.js";
import { MemoryStore } from "./memory.js";
import { watchRedisErrors } from "./redis-errors.js";
import { createRedisClient, RedisStore } from "./redis.js";
import type { KnockStore } from "./types.js";
import {
  MemoryEnrollments,
  RedisEnrollments,
  type EnrollmentStore,
} from "../passkey/enrollments.js";

/**
 * Builds one family of rate-limiter-flexible counters (`name` keeps families apart) on
 * the same backend as the store, so every gateway sharing the store enforces one limit.
 */
export type LimiterFactory = (
  name: string,
  points: number,
  durationSeconds: number,
) => RateLimiterAbstract;

/**
 * What the rest of the gateway needs from the state backend, and nothing about which
 * one it is: the store, counters for the brute-force limiter, and its lifetime.
 */
export interface StoreBackend {
  /** The knock store. */
  readonly store: KnockStore;
  /** Counters for the brute-force limiter, kept where the store keeps its state. */
  readonly limiters: LimiterFactory;
  /** Pending passkey enrollments, where the CLI and every gateway on the store see them. */
  readonly enrollments: EnrollmentStore;
  /**
   * Waits until the backend answers; rejects with StoreUnavailableError after a bounded
   * wait. The gateway may still start: every store call fails closed until it answers.
   */
  connect(): Promise<void>;
  /** Closes the store and detaches listeners. Idempotent. */
  close(): Promise<void>;
  /**
   * The Redis client and key prefix, for parts that keep their own keys beside the store
   * (the fleet's per-host streams); undefined on the in-memory backend.
   */
  readonly redis?: { readonly client: Redis; readonly keyPrefix: string };
}

/** What building a backend needs from outside. */
export interface StoreBackendDeps {
  /** Which addresses count as one client for bans; IPv4 /32 and IPv6 /64 by default. */
  readonly lengths?: PrefixLengths;
  /** The clock the store reads expiries from. */
  readonly now: Clock;
  /** Where backend failures (Redis errors) are logged, rate-limited. */
  readonly log: Logger;
}

/** Counters in this process: right for a single gateway. */
export const memoryLimiters: LimiterFactory = (name, points, duration) =>
  new RateLimiterMemory({ keyPrefix: name, points, duration });

/** Counters on a Redis client, in the namespace of `keys`, shared by every gateway on it. */
export function redisLimiters(client: Redis, keys: RedisKeys): LimiterFactory {
  return (name, points, duration) =>
    new RateLimiterRedis({
      storeClient: client,
      keyPrefix: keys.limiter(name),
      points,
      duration,
      // Answer at once while disconnected instead of waiting: the caller fails closed.
      rejectIfRedisNotReady: true,
    });
}

/**
 * The backend `store` describes: Redis when `store.redis` is set, else in this process;
 * clients are grouped by the prefix lengths in `limits`.
 */
export function createStoreBackend(
  config: Pick<GatewayConfig, "store" | "limits">,
  deps: StoreBackendDeps,
): StoreBackend {
  const { store, limits } = config;
  const lengths = { ipv4Prefix: limits.ipv4Prefix, ipv6Prefix: limits.ipv6Prefix };
  if (store.redis === undefined)
    return memoryBackend(new MemoryStore(deps.now, lengths), deps.now);
  return redisBackend(createRedisClient(store.redis), store.keyPrefix, { ...deps, lengths });
}

/** Any store with counters in this process (a single gateway, tests with a custom store). */
export function memoryBackend(store: KnockStore, now: Clock = Date.now): StoreBackend {
  return {
    store,
    limiters: memoryLimiters,
    enrollments: new MemoryEnrollments(now),
    connect: () => Promise.resolve(),
    close: () => store.close(),
  };
}

/**
 * A RedisStore on `client`, with the limiter's counters on the same client and in the
 * same key namespace, and the client's errors logged (never an unhandled 'error' event).
 */
export function redisBackend(
  client: Redis,
  keyPrefix: string,
  deps: StoreBackendDeps,
): StoreBackend {
  const store = new RedisStore(client, keyPrefix, deps.now, deps.lengths);
  const unwatch = watchRedisErrors(client, deps.log, deps.now);
  return {
    store,
    limiters: redisLimiters(client, store.keys),
    enrollments: new RedisEnrollments(client, store.keys.enrollments, deps.now),
    redis: { client, keyPrefix },
    connect: () => store.connect(),
    close: async () => {
      unwatch();
      await store.close();
    },
  };
}

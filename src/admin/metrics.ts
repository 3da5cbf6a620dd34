import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Clock } from "../clock.js";
import type { KnockObserver } from "../knock/engine.js";
import type { KnockStore } from "../store/types.js";

/**
 * Store round trips are sub-millisecond on loopback Redis and bounded by the client's
 * 300 ms command timeout (FAIL_CLOSED_REDIS_OPTIONS), so the buckets span 0.1 ms to 0.5 s.
 */
const STORE_LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5];

/** The gateway's Prometheus metrics in their own registry (never the global one). */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** Hand to the KnockEngine: counts steps, challenges, grants and denials. */
  readonly observer: KnockObserver;
  /** Records one store operation's duration; used by `timedStore`. */
  observeStore(operation: string, seconds: number, ok: boolean): void;
}

/**
 * Creates the counters, the store latency histogram and gauges that read the store at
 * scrape time (open grants, bans in force), so they are right across gateways sharing Redis.
 */
export function createMetrics(store: KnockStore, now: Clock): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "webknock_" });
  const registers = [registry];

  const steps = new Counter({
    name: "webknock_knock_steps_total",
    help: "Knock step requests that reached the store, by door.",
    labelNames: ["door"],
    registers,
  });
  const challenges = new Counter({
    name: "webknock_challenges_total",
    help: "Completed sequences answered with a challenge, by door.",
    labelNames: ["door"],
    registers,
  });
  const grants = new Counter({
    name: "webknock_grants_total",
    help: "Successful redemptions that opened a door, by door.",
    labelNames: ["door"],
    registers,
  });
  const denials = new Counter({
    name: "webknock_denials_total",
    help: "Refused redemptions of a live challenge, by door and reason.",
    labelNames: ["door", "reason"],
    registers,
  });
  const storeSeconds = new Histogram({
    name: "webknock_store_operation_seconds",
    help: "Duration of knock store operations, by operation and result.",
    labelNames: ["operation", "result"],
    buckets: STORE_LATENCY_BUCKETS,
    registers,
  });
  // Gauges are collected concurrently at scrape time; they share one store read.
  let pending: Promise<StoreSnapshot | undefined> | undefined;
  const snapshot = () =>
    (pending ??= readSnapshot(store, now).finally(() => {
      pending = undefined;
    }));
  new Gauge({
    name: "webknock_store_up",
    help: "1 when the store answered the last scrape, 0 when it did not.",
    registers,
    async collect() {
      this.set((await snapshot()) === undefined ? 0 : 1);
    },
  });
  new Gauge({
    name: "webknock_open_grants",
    help: "Grants whose expiry has not passed, per the store.",
    registers,
    async collect() {
      // With the store down, keep the last known count rather than a fake zero.
      const read = await snapshot();
      if (read) this.set(read.openGrants);
    },
  });
  new Gauge({
    name: "webknock_bans",
    help: "Clients (addresses or prefixes) banned right now, per the store.",
    registers,
    async collect() {
      const read = await snapshot();
      if (read) this.set(read.bans);
    },
  });

  return {
    registry,
    observer: {
      onStep: (door) => {
        steps.inc({ door });
      },
      onChallenge: (door) => {
        challenges.inc({ door });
      },
      onGrant: (door) => {
        grants.inc({ door });
      },
      onDenial: (door, reason) => {
        denials.inc({ door, reason });
      },
    },
    observeStore(operation, seconds, ok) {
      storeSeconds.observe({ operation, result: ok ? "ok" : "error" }, seconds);
    },
  };
}

interface StoreSnapshot {
  readonly openGrants: number;
  readonly bans: number;
}

async function readSnapshot(store: KnockStore, now: Clock): Promise<StoreSnapshot | undefined> {
  try {
    // countBans is O(log n): a scrape never walks the bans, however many there are.
    const [live, bans] = await Promise.all([store.listGrants(), store.countBans()]);
    const at = now();
    return { openGrants: live.filter((g) => g.expiresAt > at).length, bans };
  } catch {
    return undefined;
  }
}

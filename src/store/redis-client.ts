import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import type { ClusterTarget, RedisTarget, SentinelTarget } from "../config/types.js";

/**
 * A connection to webknock's Redis, whichever form `store.redis` takes. Both classes
 * share ioredis' command typings, so callers use either without asking which it is.
 */
export type RedisClient = Redis | Cluster;

/**
 * Client options for a gateway that must fail closed: no offline queue (a command
 * fails at once while disconnected), a per-command timeout (a frozen server cannot
 * hang a request: 300 ms keeps a knock's 503 well under half a second), no per-request
 * retries (a retry would double the wait), and endless background reconnects (it
 * recovers by itself). `socketTimeout` drops a connection that has had commands
 * outstanding without a byte back for 2 s (a frozen or vanished server, which TCP
 * alone would notice only after minutes), so commands stop piling up on it and fail
 * at once until a reconnect succeeds.
 */
export const FAIL_CLOSED_REDIS_OPTIONS: RedisOptions = Object.freeze({
  enableOfflineQueue: false,
  commandTimeout: 300,
  maxRetriesPerRequest: 0,
  connectTimeout: 2000,
  socketTimeout: 2000,
  retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
});

/** Reconnect back-off, bounded like a single node's. */
const backoff = (attempt: number) => Math.min(attempt * 100, 2000);

/**
 * Creates an ioredis client with the fail-closed options, for a URL, a Sentinel group or
 * a Cluster. Through Sentinel, a failover drops the connection: commands fail (the
 * gateway answers 503) until ioredis has asked the sentinels for the new master and
 * reconnected. `options` are a single node's; on a Cluster they apply to each node.
 */
export function createRedisClient(target: string | SentinelTarget, options?: RedisOptions): Redis;
export function createRedisClient(target: ClusterTarget, options?: RedisOptions): Cluster;
export function createRedisClient(target: RedisTarget, options?: RedisOptions): RedisClient;
export function createRedisClient(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  if (typeof target === "string")
    return new Redis(target, { ...FAIL_CLOSED_REDIS_OPTIONS, ...options });
  if ("cluster" in target) return createClusterClient(target, options);
  return new Redis({
    ...FAIL_CLOSED_REDIS_OPTIONS,
    sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
    name: target.name,
    role: "master",
    username: target.username,
    password: target.password,
    db: target.db,
    // Ask the sentinels again at once after a failover; bounded like the reconnects.
    sentinelRetryStrategy: backoff,
    ...options,
  });
}

/**
 * A Cluster client that fails closed like a single node: no offline queue, no waiting
 * out CLUSTERDOWN or a lost connection (either answers 503 at once), few redirections
 * (MOVED and ASK are followed, but never for long), and the slot map read again every
 * 2 s (each read opens a short-lived connection, so not more often), so a promoted
 * replica or a resharding is found by itself.
 * Per-node options (timeouts) come from FAIL_CLOSED_REDIS_OPTIONS and `options`.
 */
export function createClusterClient(target: ClusterTarget, options: RedisOptions = {}): Cluster {
  const { enableOfflineQueue, retryStrategy, lazyConnect, ...perNode } = {
    ...FAIL_CLOSED_REDIS_OPTIONS,
    ...options,
  };
  const clusterOptions: ClusterOptions = {
    enableOfflineQueue: enableOfflineQueue ?? false,
    lazyConnect: lazyConnect ?? false,
    clusterRetryStrategy: retryStrategy === undefined ? backoff : retryStrategy,
    retryDelayOnClusterDown: 0,
    retryDelayOnFailover: 0,
    retryDelayOnTryAgain: 0,
    maxRedirections: 4,
    slotsRefreshInterval: 2000,
    slotsRefreshTimeout: 1000,
    // A lost node reconnects by itself, as a single node does; meanwhile its slots fail closed.
    clusterNodeRetryStrategy: backoff,
    redisOptions: { ...perNode, username: target.username, password: target.password },
  };
  const cluster = new Cluster(
    target.cluster.map(({ host, port }) => ({ host, port })),
    clusterOptions,
  );
  const refreshWhileDown = slotsRefreshWhileDown(cluster);
  // Node connections are lazy, and without an offline queue a command that finds its
  // node still connecting fails: connect each node as soon as the slot map names it.
  cluster.on("+node", (node: Redis) => {
    if (node.status === "wait") node.connect().catch(() => undefined);
    node.on("close", refreshWhileDown);
  });
  return cluster;
}

/** While a master is unreachable, how often the slot map is read again (ms). */
export const OUTAGE_SLOTS_REFRESH_MS = 250;

/**
 * Returns a listener for a node's 'close': from then on, and until every master in the
 * slot map answers again, the slot map is read every OUTAGE_SLOTS_REFRESH_MS. ioredis
 * only re-reads it every `slotsRefreshInterval` (2 s) or on a MOVED reply, and a dead
 * master sends no MOVED: its slots would stay routed to it (503) for up to 2 s after the
 * Cluster promoted its replica. Measured on a real Cluster (cluster-node-timeout 1 s):
 * served again about 0.3 s after the promotion instead of 1-2 s
 * (test/store/cluster-failover.system.test.ts). The promotion drops the dead node from
 * the map, which ends the fast reads; a master without a replica keeps them going (one
 * short connection each, as every slot map read) until it is back.
 */
function slotsRefreshWhileDown(cluster: Cluster): () => void {
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
  };
  return () => {
    if (timer !== undefined) return;
    timer = setInterval(() => {
      if (cluster.status === "end") {
        stop();
        return;
      }
      if (cluster.status !== "ready") return; // the Cluster is reconnecting on its own
      if (cluster.nodes("master").every((node) => node.status === "ready")) {
        stop();
        return;
      }
      cluster.refreshSlotsCache();
    }, OUTAGE_SLOTS_REFRESH_MS);
    // An outage must not keep a stopping process alive.
    timer.unref();
  };
}

/**
 * Resolves once every master of a Cluster answers (each node connects on its own after
 * the Cluster's `ready`); at once for a single node. Rejects if one does not answer.
 */
export async function nodesReady(client: RedisClient): Promise<void> {
  if (!(client instanceof Cluster)) return;
  await Promise.all(client.nodes("master").map((node) => node.ping()));
}

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, startRedisServer, type RedisServerHandle } from "./redis-server.js";

const run = promisify(execFile);

/** A real Redis Cluster on private loopback ports, owned by a test. */
export interface RedisClusterHandle {
  /** `{ host, port }` of every node (masters first), as `store.redis.cluster` takes them. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** The same as `host:port` strings, as a config file writes them. */
  readonly seeds: readonly string[];
  /** Every node's server, masters first; `restart` replaces an entry. */
  readonly servers: readonly RedisServerHandle[];
  /**
   * Starts the node on `port` again (after a test killed it) with its own nodes.conf, so
   * it rejoins the Cluster with its old identity (a replica of whoever took its slots);
   * resolves once it answers PING.
   */
  restart(port: number): Promise<RedisServerHandle>;
  /** Kills every node and removes its directory; safe to call after a failed start. */
  stop(): Promise<void>;
}

/** Shape of the Cluster: how many replicas per master and how fast a dead master is replaced. */
export interface RedisClusterOptions {
  /** Replicas per master (`--cluster-replicas`); 0, the default, starts fastest. */
  readonly replicas?: number;
  /**
   * `cluster-node-timeout` (ms): how long a master may be unreachable before the others mark
   * it failed and its replica is elected. 2000 by default; a failover test wants ~1000.
   */
  readonly nodeTimeoutMs?: number;
}

/**
 * Starts `masters × (1 + replicas)` redis-servers in cluster mode (each with its own data
 * directory; the nodes.conf files share one directory so a restarted node keeps its
 * identity), joins them with `redis-cli --cluster create --cluster-replicas N`, and waits,
 * bounded, until every node reports cluster_state:ok and every replica is in sync. Throws
 * (after stopping what it started) when any step fails or takes too long.
 */
export async function startRedisCluster(
  masters = 3,
  options: RedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const replicas = options.replicas ?? 0;
  const confDir = mkdtempSync(join(tmpdir(), "webknock-cluster-"));
  const servers: RedisServerHandle[] = [];
  const args = (port: number) => [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    join(confDir, `nodes-${port}.conf`),
    "--cluster-node-timeout",
    String(options.nodeTimeoutMs ?? 2000),
    // A replica's full sync starts at once (the default waits 5 s for more replicas).
    "--repl-diskless-sync-delay",
    "0",
  ];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    rmSync(confDir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freePort();
      servers.push(await startRedisServer(port, args(port)));
    }
    const seeds = servers.map((server) => `127.0.0.1:${server.port}`);
    await run(
      "redis-cli",
      ["--cluster", "create", ...seeds, "--cluster-replicas", String(replicas), "--cluster-yes"],
      { timeout: 15_000 },
    );
    await waitUntilOk(servers, replicas);
    return {
      nodes: servers.map((server) => ({ host: "127.0.0.1", port: server.port })),
      seeds,
      servers,
      restart: async (port: number) => {
        const index = servers.findIndex((server) => server.port === port);
        const old = servers[index];
        if (old === undefined) throw new Error(`no Cluster node on port ${port}`);
        await old.stop();
        const server = await startRedisServer(port, args(port));
        servers[index] = server;
        return server;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One node's answer to `redis-cli -p port args...`, bounded at 2 s. */
async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", ["-p", String(port), ...args], { timeout: 2000 });
  return stdout;
}

/**
 * Polls, for at most 15 s, until every node says cluster_state:ok and, with replicas, every
 * master has `replicas` replicas online (synced: WAIT counts only those).
 */
async function waitUntilOk(servers: readonly RedisServerHandle[], replicas: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (let attempt = 0; attempt < 300 && Date.now() < deadline; attempt++) {
    const states = await Promise.all(
      servers.map(async (server) => {
        if (!(await cli(server.port, "cluster", "info")).includes("cluster_state:ok")) return false;
        if (replicas === 0) return true;
        const info = await cli(server.port, "info", "replication");
        if (!info.includes("role:master")) return true;
        return (info.match(/state=online/g) ?? []).length >= replicas;
      }),
    );
    if (states.every(Boolean)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the Redis Cluster did not reach cluster_state:ok with synced replicas in 15 s");
}

import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { freePort, startRedisServer, type RedisServerHandle } from "./redis-server.js";

const run = promisify(execFile);

/** A real Redis Cluster of masters on private loopback ports, owned by a test. */
export interface RedisClusterHandle {
  /** `{ host, port }` of every master, as `store.redis.cluster` takes them. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** The same as `host:port` strings, as a config file writes them. */
  readonly seeds: readonly string[];
  readonly servers: readonly RedisServerHandle[];
  /** Kills every node and removes its directory; safe to call after a failed start. */
  stop(): Promise<void>;
}

/**
 * Starts `masters` redis-servers in cluster mode (each in its own temporary directory),
 * joins them with `redis-cli --cluster create --cluster-replicas 0`, and waits, bounded,
 * until every node reports cluster_state:ok. Throws (after stopping what it started)
 * when any step fails or takes too long.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
  const servers: RedisServerHandle[] = [];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(
        await startRedisServer(await freePort(), [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          `nodes-${randomUUID()}.conf`,
          "--cluster-node-timeout",
          "2000",
        ]),
      );
    }
    const seeds = servers.map((server) => `127.0.0.1:${server.port}`);
    await run(
      "redis-cli",
      ["--cluster", "create", ...seeds, "--cluster-replicas", "0", "--cluster-yes"],
      { timeout: 15_000 },
    );
    await waitUntilOk(servers);
    return {
      nodes: servers.map((server) => ({ host: "127.0.0.1", port: server.port })),
      seeds,
      servers,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Polls CLUSTER INFO on every node for at most 10 s. */
async function waitUntilOk(servers: readonly RedisServerHandle[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
    const states = await Promise.all(
      servers.map(async (server) => {
        const { stdout } = await run("redis-cli", ["-p", String(server.port), "cluster", "info"], {
          timeout: 2000,
        });
        return stdout.includes("cluster_state:ok");
      }),
    );
    if (states.every(Boolean)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the Redis Cluster did not reach cluster_state:ok within 10 s");
}

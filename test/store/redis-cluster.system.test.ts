import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import { freePort, startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { describeStoreContract } from "./contract.js";

/**
 * The whole store contract on a redis-server in cluster mode (one node holding every
 * slot). Cluster mode refuses a script whose keys hash to different slots (CROSSSLOT),
 * so this proves every multi-key script keeps its keys under one hash tag.
 */
let server: RedisServerHandle | undefined;
beforeAll(async () => {
  server = await startRedisServer(await freePort(), [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    `nodes-${randomUUID()}.conf`,
  ]);
  const admin = createRedisClient(server.url);
  try {
    await waitReady(admin);
    await admin.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
    for (let i = 0; i < 100; i++) {
      if ((await admin.call("CLUSTER", "INFO"))?.toString().includes("cluster_state:ok")) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error("the one-node cluster did not reach cluster_state:ok within 5 s");
  } finally {
    admin.disconnect();
  }
});
afterAll(async () => {
  await server?.stop();
});

function waitReady(client: ReturnType<typeof createRedisClient>): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve) => {
    client.once("ready", () => {
      resolve();
    });
  });
}

describeStoreContract("RedisStore (redis-server in cluster mode)", async () => {
  const client = createRedisClient(server?.url ?? "");
  const store = new RedisStore(client, `test:${randomUUID()}:`);
  await store.connect();
  return {
    store,
    now: () => Date.now(),
    advanceTime: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
    close: () => store.close(),
  };
});

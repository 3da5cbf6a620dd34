import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import { describeStoreContract } from "./contract.js";

describeStoreContract("RedisStore (real redis-server)", async () => {
  const client = createRedisClient(inject("redisUrl"));
  const prefix = `test:${randomUUID()}:`;
  const store = new RedisStore(client, prefix);
  await store.connect();
  return {
    store,
    now: () => Date.now(),
    advanceTime: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
    close: async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await store.close();
    },
  };
});

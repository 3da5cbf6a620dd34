import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import { describeGrantManager } from "./grants-contract.js";

describeGrantManager("RedisStore (real redis-server)", async (now) => {
  const client = createRedisClient(inject("redisUrl"));
  const prefix = `test:${randomUUID()}:`;
  const store = new RedisStore(client, prefix, now);
  await store.connect();
  return {
    store,
    close: async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await store.close();
    },
  };
});

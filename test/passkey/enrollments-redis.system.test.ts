import { randomUUID } from "node:crypto";
import { afterAll, inject } from "vitest";
import { RedisEnrollments } from "../../src/passkey/enrollments.js";
import { createRedisClient } from "../../src/store/redis.js";
import { enrollmentContract } from "./enrollments-contract.js";

const client = createRedisClient(inject("redisUrl"), { enableOfflineQueue: true });
const keys: string[] = [];
afterAll(async () => {
  if (keys.length > 0) await client.del(...keys);
  client.disconnect();
});

// The clock is the store's own (expiry is checked against it), so it can be moved.
enrollmentContract("redis", () => {
  let t = Date.now();
  const now = () => t;
  const key = `test:enroll:${randomUUID()}`;
  keys.push(key);
  return Promise.resolve({
    store: new RedisEnrollments(client, key, now),
    now,
    advance: (ms) => {
      t += ms;
    },
  });
});

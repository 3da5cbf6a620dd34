import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createRedisClient, RedisStore, type RedisClient } from "../../src/store/redis.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { ReplicaAckTimeout } from "../../src/store/replica-ack.js";

/** The cause a fail-closed store error carries. */
async function causeOf(promise: Promise<unknown>): Promise<unknown> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreUnavailableError);
  return (error as Error).cause;
}

/**
 * The test Redis has no replica, so a store that asks for one acknowledgement can never get
 * it: a TOTP claim (which must survive a failover, or the code could be replayed) fails
 * closed, and the same claim without the requirement succeeds.
 */
describe("RedisStore with store.replicaAck and no replica (real redis-server)", () => {
  let client: RedisClient;
  const prefix = `test:${randomUUID()}:`;
  let waiting: RedisStore;
  let plain: RedisStore;

  beforeAll(async () => {
    client = createRedisClient(inject("redisUrl"));
    const ack = { replicas: 1, timeoutMs: 50 };
    waiting = new RedisStore(client, prefix, Date.now, undefined, { replicaAck: ack });
    plain = new RedisStore(client, prefix);
    await waiting.connect();
  });

  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await waiting.close();
  });

  it("refuses a claim no replica acknowledged; a replay of it is still a replay", async () => {
    const cause = await causeOf(waiting.claimTotpStep("bob", 1234, 90_000));
    expect(cause).toBeInstanceOf(ReplicaAckTimeout);
    expect(String(cause)).toContain("0 of 1 replicas acknowledged the claim within 50 ms");
    // The claim stands on the master: the same code stays spent, with or without a replica.
    expect(await waiting.claimTotpStep("bob", 1234, 90_000)).toBe(false);
    expect(await plain.claimTotpStep("carol", 1234, 90_000)).toBe(true);
  });
});

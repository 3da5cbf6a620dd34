import { randomUUID } from "node:crypto";
import request from "supertest";
import { inject, describe, expect, it, afterAll } from "vitest";
import { redisBackend } from "../../src/store/backend.js";
import { createRedisClient } from "../../src/store/redis.js";
import { createGateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { currentTotp } from "../../src/knock/totp.js";
import { ALICE_SECRET, LAST, RecordingFirewall, SEQUENCE, testConfig } from "../support/gateway.js";

/** EVALSHA calls the server has processed so far, read over a separate connection. */
async function evalshaCalls(observer: ReturnType<typeof createRedisClient>): Promise<number> {
  const info = await observer.info("commandstats");
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

describe("RedisStore costs", () => {
  const prefix = `test:${randomUUID()}:`;
  const client = createRedisClient(inject("redisUrl"));
  const observer = createRedisClient(inject("redisUrl"));
  const backend = redisBackend(client, prefix, { log: silentLogger(), now: Date.now });
  /** Every command the gateway's client sends: one entry per round trip. */
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, stream) => {
    sent.push(command.name);
    return send(command, stream);
  };
  const gateway = createGateway(testConfig(), {
    log: silentLogger(),
    now: Date.now,
    backend,
    firewall: new RecordingFirewall(),
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await backend.close();
    observer.disconnect();
  });
  const get = (path: string) =>
    request(gateway.handler)
      .get(path)
      .set("X-Forwarded-For", "203.0.113.5")
      .set("Accept", "application/json");

  it("spends exactly one round trip per knock step and none on unknown paths", async () => {
    await backend.connect();
    if (observer.status !== "ready")
      await new Promise((resolve) => observer.once("ready", resolve));
    // The first call loads the script (EVALSHA -> NOSCRIPT -> EVAL); later ones are EVALSHA only.
    await request(gateway.handler).get(SEQUENCE[0]).set("X-Forwarded-For", "198.51.100.250");
    const before = await evalshaCalls(observer);
    sent.length = 0;
    await get(SEQUENCE[0]);
    expect(sent).toEqual(["evalsha"]);
    expect((await evalshaCalls(observer)) - before).toBe(1);
    // Fewer distinct unknown paths than the scanner threshold, so no ban is written.
    for (let i = 0; i < 10; i++) await get(`/random/${i}`);
    expect(sent).toEqual(["evalsha"]);
  });

  it("gives every key it writes a TTL", async () => {
    await get(SEQUENCE[0]);
    await get(SEQUENCE[1]);
    const challenge = ((await get(LAST)).body as { challenge: string }).challenge;
    await request(gateway.handler)
      .post(LAST)
      .set("X-Forwarded-For", "203.0.113.5")
      .send({ challenge, user: "alice", code: await currentTotp(ALICE_SECRET, Date.now()) });
    await get(SEQUENCE[0]); // leaves progress behind too
    const keys = await client.keys(`${prefix}*`);
    expect(keys.length).toBeGreaterThanOrEqual(4); // progress, used TOTP step, grants hash and zset
    for (const key of keys) expect(await client.pttl(key)).toBeGreaterThan(0);
  });
});

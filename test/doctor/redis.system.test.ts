import { afterEach, describe, expect, it } from "vitest";
import { redisCheck } from "../../src/doctor/redis.js";
import { freePort, startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { contextFor, rawConfig } from "./support.js";

/** The Redis check against real redis-servers started the ways an administrator might. */
describe("the Redis check against a real redis-server", () => {
  let server: RedisServerHandle | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  const check = async (url: string) => {
    const raw = { ...rawConfig("log", ["tcp/22"]), store: { redis: url } };
    return redisCheck.run(contextFor(raw, () => Promise.reject(new Error("no commands"))));
  };

  it("passes Redis as compose.yaml runs it (AOF, noeviction)", async () => {
    server = await startRedisServer(await freePort(), [
      "--appendonly",
      "yes",
      "--maxmemory-policy",
      "noeviction",
    ]);
    expect((await check(server.url)).map((f) => f.severity)).toEqual(["ok"]);
  });

  it("names persistence off and an evicting policy, with the fixes", async () => {
    server = await startRedisServer(await freePort(), [
      "--maxmemory",
      "64mb",
      "--maxmemory-policy",
      "volatile-lru",
    ]);
    const found = await check(server.url);
    expect(found.map((f) => f.severity)).toEqual(["problem", "problem"]);
    expect(found[0]?.fix).toContain("appendonly yes");
    expect(found[1]?.summary).toContain("volatile-lru with maxmemory 67108864");
  });

  it("names an unreachable Redis within a few seconds", async () => {
    const started = Date.now();
    const found = await check(`redis://127.0.0.1:${await freePort()}/0`);
    expect(found).toHaveLength(1);
    expect(found[0]?.severity).toBe("problem");
    expect(found[0]?.summary).toContain("does not answer");
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

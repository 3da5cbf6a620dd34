import { describe, expect, it } from "vitest";
import { redactUrl, redisCheck } from "../../src/doctor/redis.js";
import type { RedisProbe } from "../../src/doctor/types.js";
import { contextFor, rawConfig } from "./support.js";

/** A Redis stand-in answering CONFIG and INFO from a table (the real one: redis.system.test.ts). */
function probe(config: Record<string, string>, aof = "0", down = false): RedisProbe {
  return {
    ping: () =>
      down ? Promise.reject(new Error("connect ECONNREFUSED")) : Promise.resolve("PONG"),
    configGet: (key) => Promise.resolve(config[key]),
    info: () => Promise.resolve(new Map([["aof_enabled", aof]])),
    close: () => Promise.resolve(),
  };
}
const check = async (p: RedisProbe) => {
  const raw = { ...rawConfig("log", ["tcp/22"]), store: { redis: "redis://:pw@127.0.0.1:6379/0" } };
  return redisCheck.run(
    contextFor(raw, () => Promise.reject(new Error("no commands")), { connectRedis: () => p }),
  );
};
const severities = async (p: RedisProbe) => (await check(p)).map((f) => f.severity);

describe("the Redis check's policy", () => {
  it("wants persistence and noeviction", async () => {
    expect(await severities(probe({ save: "", "maxmemory-policy": "noeviction" }, "1"))).toEqual([
      "ok",
    ]);
    expect(await severities(probe({ save: "3600 1", "maxmemory-policy": "noeviction" }))).toEqual([
      "ok",
    ]);
    expect(await severities(probe({ save: "", "maxmemory-policy": "noeviction" }))).toEqual([
      "problem",
    ]);
  });

  it("treats volatile-* like allkeys-*: every webknock key has a TTL", async () => {
    for (const policy of ["volatile-lru", "volatile-ttl", "allkeys-lru"]) {
      const found = await check(
        probe({ save: "", "maxmemory-policy": policy, maxmemory: "100mb" }, "1"),
      );
      expect(found[1]).toMatchObject({
        severity: "problem",
        fix: expect.stringContaining("noeviction"),
      });
    }
    const unlimited = probe({ save: "", "maxmemory-policy": "allkeys-lru", maxmemory: "0" }, "1");
    expect(await severities(unlimited)).toEqual(["ok", "warning"]);
    expect(await severities(probe({ save: "" }, "1"))).toEqual(["ok", "warning"]);
  });

  it("reports an unreachable Redis without its password", async () => {
    const [finding] = await check(probe({}, "0", true));
    expect(finding?.severity).toBe("problem");
    expect(finding?.summary).toContain("redis://***@127.0.0.1:6379/0");
    expect(redactUrl("redis://127.0.0.1:6379")).toBe("redis://127.0.0.1:6379");
  });

  it("probes a Sentinel group's master and names the group, not a URL", async () => {
    const sentinel = { sentinels: ["127.0.0.1:26379"], name: "webknock", password: "pw" };
    const raw = { ...rawConfig("log", ["tcp/22"]), store: { redis: sentinel } };
    const targets: unknown[] = [];
    const [finding] = await redisCheck.run(
      contextFor(raw, () => Promise.reject(new Error("no commands")), {
        connectRedis: (target) => {
          targets.push(target);
          return probe({}, "0", true);
        },
      }),
    );
    expect(targets).toMatchObject([{ name: "webknock", sentinels: [{ port: 26379 }] }]);
    expect(finding?.summary).toContain("Sentinel group webknock (via 127.0.0.1:26379)");
    expect(finding?.summary).not.toContain("pw");
  });
});

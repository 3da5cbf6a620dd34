import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import type { LimitsConfig } from "../../src/config/types.js";
import { RateLimitedAttempts } from "../../src/defences/limiter.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memoryLimiters, redisLimiters, type LimiterFactory } from "../../src/store/backend.js";
import { redisKeys } from "../../src/store/keys.js";
import { createRedisClient } from "../../src/store/redis.js";
import { startTestGateway, testConfig } from "../support/gateway.js";
import { captureLog, knocker, listen, sleep, wrongCode } from "./support.js";

const LIMITS: LimitsConfig = {
  maxFailures: 3,
  failureWindowMs: 60_000,
  lockoutMs: 1000,
  maxLockoutMs: 2000,
  lockoutMemoryMs: 60_000,
  ipv4Prefix: 32,
  ipv6Prefix: 64,
  scanner: { distinctPaths: 20, windowMs: 10_000, banMs: 60_000, trackedIps: 100 },
};

let redis: Redis;
beforeAll(async () => {
  redis = createRedisClient(inject("redisUrl"));
  await new Promise((resolve) => redis.once("ready", resolve));
});
afterAll(async () => {
  await redis.quit();
});

const backends: [string, () => LimiterFactory][] = [
  ["memory", () => memoryLimiters],
  ["redis", () => redisLimiters(redis, redisKeys(`test:${randomUUID()}:`))],
];

/** One failed attempt as the engine makes it: check, then fail if allowed. */
async function failOnce(
  limiter: RateLimitedAttempts,
  user: string | undefined,
  ip: string,
): Promise<boolean> {
  const allowed = await limiter.check(user, ip);
  if (allowed) await limiter.fail(user, ip);
  return allowed;
}

describe.each(backends)("brute-force limiter on %s", (_name, backend) => {
  it("allows maxFailures attempts, then refuses the user on every IP", async () => {
    const limiter = new RateLimitedAttempts(LIMITS, backend(), silentLogger());
    for (let i = 0; i < 3; i++)
      expect(await failOnce(limiter, "alice", `203.0.113.${i}`)).toBe(true);
    expect(await limiter.check("alice", "198.51.100.99")).toBe(false);
    expect(await limiter.check("bob", "198.51.100.99")).toBe(true);
  });

  it("refuses an IP that failed maxFailures times, whatever user it names", async () => {
    const limiter = new RateLimitedAttempts(LIMITS, backend(), silentLogger());
    for (const user of ["u1", "u2", "u3"])
      expect(await failOnce(limiter, user, "203.0.113.9")).toBe(true);
    expect(await limiter.check("alice", "203.0.113.9")).toBe(false);
    expect(await limiter.check("alice", "203.0.113.10")).toBe(true);
  });

  it("counts an attempt with no accountable user against the IP only", async () => {
    const limiter = new RateLimitedAttempts(LIMITS, backend(), silentLogger());
    for (let i = 0; i < 3; i++) await failOnce(limiter, undefined, `203.0.113.${40 + i}`);
    for (let i = 0; i < 3; i++) await failOnce(limiter, undefined, "203.0.113.49");
    expect(await limiter.check("alice", "198.51.100.1")).toBe(true);
    expect(await limiter.check(undefined, "203.0.113.49")).toBe(false);
  });

  it("counts an IPv6 /64 as one client, so rotating addresses in it gains nothing", async () => {
    const limiter = new RateLimitedAttempts(LIMITS, backend(), silentLogger());
    for (let i = 1; i <= 3; i++) await failOnce(limiter, undefined, `2001:db8:9:9::${i}`);
    expect(await limiter.check(undefined, "2001:db8:9:9:ffff::77")).toBe(false);
    expect(await limiter.check(undefined, "2001:db8:9:a::1")).toBe(true);
  });

  it("forgets the user's failures after a success", async () => {
    const limiter = new RateLimitedAttempts(LIMITS, backend(), silentLogger());
    for (let i = 0; i < 2; i++) await failOnce(limiter, "alice", `203.0.113.${i}`);
    expect(await limiter.check("alice", "203.0.113.50")).toBe(true);
    await limiter.succeed("alice", "203.0.113.50");
    for (let i = 0; i < 3; i++)
      expect(await failOnce(limiter, "alice", `203.0.113.${20 + i}`)).toBe(true);
    expect(await limiter.check("alice", "203.0.113.60")).toBe(false);
  });

  it("lets no more than maxFailures concurrent attempts through", async () => {
    const limiter = new RateLimitedAttempts(LIMITS, backend(), silentLogger());
    const allowed = await Promise.all(
      Array.from({ length: 50 }, (_, i) => limiter.check("carol", `198.51.100.${i}`)),
    );
    expect(allowed.filter(Boolean)).toHaveLength(3);
  });

  it("locks out for lockout, doubling per lockout up to maxLockout, logging one ban each", async () => {
    const capture = captureLog();
    const limiter = new RateLimitedAttempts(LIMITS, backend(), capture.log);
    const bans = () =>
      capture
        .events()
        .filter((e) => e.event === "ban" && e.kind === "user")
        .map((e) => e.durationMs);
    // Concurrent failures: the lockout must start once, not once per failure.
    await Promise.all([0, 1, 2].map((i) => failOnce(limiter, "dave", `203.0.113.${i}`)));
    expect(bans()).toEqual([1000]);
    expect(await limiter.check("dave", "203.0.113.77")).toBe(false);
    // Margin over the 1 s lockout: one full-suite run under heavy load saw it still locked at 1.1 s.
    await sleep(1500);
    for (let i = 0; i < 3; i++)
      expect(await failOnce(limiter, "dave", `203.0.113.${30 + i}`)).toBe(true);
    expect(bans()).toEqual([1000, 2000]);
    await sleep(1000);
    expect(await limiter.check("dave", "203.0.113.78")).toBe(false); // still in the doubled lockout
    const ban = capture.events().find((e) => e.event === "ban");
    expect(ban).toMatchObject({
      reason: "brute-force",
      user: "dave",
      ip: expect.any(String) as string,
    });
  });
});

describe("brute-force limiter across gateways and outages", () => {
  it("shares one count between two limiters on the same Redis", async () => {
    const backend = redisLimiters(redis, redisKeys(`test:${randomUUID()}:`));
    const one = new RateLimitedAttempts(LIMITS, backend, silentLogger());
    const two = new RateLimitedAttempts(LIMITS, backend, silentLogger());
    await failOnce(one, "erin", "203.0.113.1");
    await failOnce(two, "erin", "203.0.113.2");
    await failOnce(one, "erin", "203.0.113.3");
    expect(await two.check("erin", "203.0.113.4")).toBe(false);
  });

  it("fails closed with StoreUnavailableError when Redis cannot answer", async () => {
    const dead = createRedisClient("redis://127.0.0.1:1", { retryStrategy: () => null });
    dead.on("error", () => undefined);
    const limiter = new RateLimitedAttempts(
      LIMITS,
      redisLimiters(dead, redisKeys("test:")),
      silentLogger(),
    );
    await expect(limiter.check("alice", "203.0.113.1")).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(limiter.fail("alice", "203.0.113.1")).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(limiter.succeed("alice", "203.0.113.1")).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    dead.disconnect();
  });
});

describe("brute-force limiter in the gateway (real Redis)", () => {
  it("denies even the right code during a lockout, with the same generic 403", async () => {
    const capture = captureLog();
    const t = await startTestGateway({
      config: testConfig({ limits: { maxFailures: 3, lockout: "5s" } }),
      log: capture.log,
    });
    const server = await listen(t.gateway.handler);
    try {
      const replies = [];
      for (let i = 0; i < 4; i++) {
        const client = knocker(() => server.port, `203.0.113.${100 + i}`);
        const challenge = await client.walk();
        replies.push(
          await client.redeem(challenge ?? "", i < 3 ? { code: await wrongCode() } : {}),
        );
      }
      expect(replies.map((r) => r.status)).toEqual([403, 403, 403, 403]);
      expect(new Set(replies.map((r) => r.body)).size).toBe(1);
      expect(t.firewall.opened).toEqual([]);
      const reasons = capture
        .events()
        .filter((e) => e.event === "denial")
        .map((e) => e.reason);
      expect(reasons).toEqual(["wrong-code", "wrong-code", "wrong-code", "locked"]);
      expect(capture.events().filter((e) => e.event === "ban")).toHaveLength(1);
    } finally {
      await server.close();
      await t.close();
    }
  });
});

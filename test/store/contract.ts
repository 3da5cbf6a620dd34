import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AdvanceRequest, GrantRecord, KnockStore } from "../../src/store/types.js";
import { describeBanContract } from "./contract-bans.js";

/** A store under test plus a way to move its clock (real sleep for Redis TTLs). */
export interface StoreHarness {
  readonly store: KnockStore;
  /** Lets `ms` pass as the store sees time. */
  advanceTime(ms: number): Promise<void>;
  /** Epoch ms as the store sees it. */
  now(): number;
  close(): Promise<void>;
}

const request = (step: number, overrides: Partial<AdvanceRequest> = {}): AdvanceRequest => ({
  door: "ssh",
  ip: "203.0.113.7",
  step,
  length: 3,
  sequenceTimeoutMs: 400,
  challenge: { token: `tok-${step}`, ttlMs: 400 },
  ...overrides,
});

const grant = (ip: string, expiresAt: number, door = "ssh"): GrantRecord => ({
  door,
  ip,
  user: "alice",
  ports: [{ proto: "tcp", port: 22 }],
  grantedAt: expiresAt - 1000,
  expiresAt,
});

/**
 * The behaviour every KnockStore must have, written once and run against each
 * implementation (MemoryStore, and RedisStore against a real redis-server).
 */
export function describeStoreContract(
  name: string,
  createHarness: () => Promise<StoreHarness>,
): void {
  describe(`KnockStore contract: ${name}`, () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await createHarness();
    });
    afterEach(async () => {
      await h.close();
    });

    it("walks a sequence in order and issues the challenge on the last step", async () => {
      expect(await h.store.advance(request(0))).toBe("progress");
      expect(await h.store.advance(request(1))).toBe("progress");
      expect(await h.store.advance(request(2, { challenge: { token: "abc", ttlMs: 400 } }))).toBe(
        "challenge",
      );
      expect(await h.store.takeChallenge("abc", "ssh", "203.0.113.7")).toBe(true);
    });

    it("treats a repeat of the step just accepted as harmless", async () => {
      await h.store.advance(request(0));
      expect(await h.store.advance(request(0))).toBe("repeat");
      expect(await h.store.advance(request(1))).toBe("progress");
      expect(await h.store.advance(request(1))).toBe("repeat");
      expect(await h.store.advance(request(2))).toBe("challenge");
    });

    it("re-issues a challenge when the last step is reloaded", async () => {
      await h.store.advance(request(0));
      await h.store.advance(request(1));
      expect(await h.store.advance(request(2, { challenge: { token: "one", ttlMs: 400 } }))).toBe(
        "challenge",
      );
      expect(await h.store.advance(request(2, { challenge: { token: "two", ttlMs: 400 } }))).toBe(
        "challenge",
      );
      expect(await h.store.takeChallenge("one", "ssh", "203.0.113.7")).toBe(false); // replaced
      expect(await h.store.takeChallenge("two", "ssh", "203.0.113.7")).toBe(true);
    });

    it("keeps one live challenge per door and IP: a new one replaces the old", async () => {
      const issue = (token: string, overrides: Partial<AdvanceRequest> = {}) =>
        h.store.advance(request(0, { length: 1, challenge: { token, ttlMs: 400 }, ...overrides }));
      // A client hammering a one-step door: 2,000 challenges, one of them live.
      for (let i = 0; i < 2000; i++) expect(await issue(`flood-${i}`)).toBe("challenge");
      expect(await h.store.takeChallenge("flood-0", "ssh", "203.0.113.7")).toBe(false);
      expect(await h.store.takeChallenge("flood-1998", "ssh", "203.0.113.7")).toBe(false);
      // Other doors and other IPs keep their own.
      expect(await issue("web-1", { door: "web" })).toBe("challenge");
      expect(await issue("other-ip", { ip: "203.0.113.8" })).toBe("challenge");
      expect(await h.store.takeChallenge("flood-1999", "ssh", "203.0.113.7")).toBe(true);
      expect(await h.store.takeChallenge("web-1", "web", "203.0.113.7")).toBe(true);
      expect(await h.store.takeChallenge("other-ip", "ssh", "203.0.113.8")).toBe(true);
    });

    it("resets progress on an out-of-order step", async () => {
      await h.store.advance(request(0));
      expect(await h.store.advance(request(2))).toBe("reset");
      expect(await h.store.advance(request(1))).toBe("reset");
    });

    it("restarts progress when the first step comes out of order", async () => {
      await h.store.advance(request(0));
      await h.store.advance(request(1));
      expect(await h.store.advance(request(0))).toBe("reset");
      expect(await h.store.advance(request(1))).toBe("progress");
      expect(await h.store.advance(request(2))).toBe("challenge");
    });

    it("keeps clients and doors apart", async () => {
      await h.store.advance(request(0));
      await h.store.advance(request(1));
      expect(await h.store.advance(request(2, { ip: "198.51.100.1" }))).toBe("reset");
      expect(await h.store.advance(request(2, { door: "web" }))).toBe("reset");
      expect(await h.store.advance(request(2))).toBe("challenge");
    });

    it("issues the challenge at once for a one-step door", async () => {
      expect(await h.store.advance(request(0, { length: 1 }))).toBe("challenge");
    });

    it("expires progress sequenceTimeout after the first step, not the last", async () => {
      await h.store.advance(request(0));
      await h.advanceTime(250);
      expect(await h.store.advance(request(1))).toBe("progress");
      await h.advanceTime(250);
      expect(await h.store.advance(request(2))).toBe("reset");
    });

    it("consumes a challenge once, only for its door and IP", async () => {
      await h.store.advance(request(0, { length: 1, challenge: { token: "t1", ttlMs: 400 } }));
      expect(await h.store.takeChallenge("t1", "ssh", "198.51.100.1")).toBe(false);
      expect(await h.store.takeChallenge("t1", "web", "203.0.113.7")).toBe(false);
      expect(await h.store.takeChallenge("t1", "ssh", "203.0.113.7")).toBe(true);
      expect(await h.store.takeChallenge("t1", "ssh", "203.0.113.7")).toBe(false);
      expect(await h.store.takeChallenge("never-issued", "ssh", "203.0.113.7")).toBe(false);
    });

    it("tells whether the latest challenge for a door and IP is live, without consuming it", async () => {
      expect(await h.store.hasChallenge("ssh", "203.0.113.7")).toBe(false);
      await h.store.advance(request(0, { length: 1, challenge: { token: "t3", ttlMs: 200 } }));
      expect(await h.store.hasChallenge("ssh", "203.0.113.7")).toBe(true);
      expect(await h.store.hasChallenge("ssh", "203.0.113.7")).toBe(true);
      expect(await h.store.hasChallenge("web", "203.0.113.7")).toBe(false);
      expect(await h.store.hasChallenge("ssh", "198.51.100.1")).toBe(false);
      expect(await h.store.takeChallenge("t3", "ssh", "203.0.113.7")).toBe(true);
      expect(await h.store.hasChallenge("ssh", "203.0.113.7")).toBe(false);
      await h.store.advance(request(0, { length: 1, challenge: { token: "t4", ttlMs: 200 } }));
      await h.advanceTime(300);
      expect(await h.store.hasChallenge("ssh", "203.0.113.7")).toBe(false);
    });

    it("expires a challenge after its ttl", async () => {
      await h.store.advance(request(0, { length: 1, challenge: { token: "t2", ttlMs: 200 } }));
      await h.advanceTime(300);
      expect(await h.store.takeChallenge("t2", "ssh", "203.0.113.7")).toBe(false);
    });

    it("accepts a TOTP step once and never an earlier one after it", async () => {
      expect(await h.store.claimTotpStep("alice", 100, 90_000)).toBe(true);
      expect(await h.store.claimTotpStep("alice", 100, 90_000)).toBe(false);
      expect(await h.store.claimTotpStep("alice", 99, 90_000)).toBe(false);
      expect(await h.store.claimTotpStep("bob", 100, 90_000)).toBe(true);
      expect(await h.store.claimTotpStep("alice", 101, 90_000)).toBe(true);
    });

    it("lets exactly one of many concurrent claims of a step win", async () => {
      const results = await Promise.all(
        Array.from({ length: 25 }, () => h.store.claimTotpStep("carol", 500, 90_000)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("records, refreshes, lists and removes grants", async () => {
      const now = h.now();
      await h.store.putGrant(grant("203.0.113.7", now + 5000));
      await h.store.putGrant(grant("203.0.113.8", now + 3000));
      await h.store.putGrant(grant("203.0.113.7", now + 9000));
      const listed = await h.store.listGrants();
      expect(listed.map((g) => [g.ip, g.expiresAt])).toEqual([
        ["203.0.113.8", now + 3000],
        ["203.0.113.7", now + 9000],
      ]);
      expect((await h.store.getGrant("ssh", "203.0.113.7"))?.expiresAt).toBe(now + 9000);
      expect(await h.store.getGrant("web", "203.0.113.7")).toBeUndefined();
      expect((await h.store.removeGrant("ssh", "203.0.113.8"))?.ip).toBe("203.0.113.8");
      expect(await h.store.removeGrant("ssh", "203.0.113.8")).toBeUndefined();
      expect(await h.store.getGrant("ssh", "203.0.113.8")).toBeUndefined();
      expect(await h.store.listGrants()).toHaveLength(1);
    });

    it("hands out expired grants once, soonest first", async () => {
      const now = h.now();
      await h.store.putGrant(grant("2001:db8::1", now - 10));
      await h.store.putGrant(grant("203.0.113.9", now - 20));
      await h.store.putGrant(grant("203.0.113.10", now + 60_000));
      const expired = await h.store.takeExpiredGrants(now);
      expect(expired.map((g) => g.ip)).toEqual(["203.0.113.9", "2001:db8::1"]);
      expect(await h.store.takeExpiredGrants(now)).toEqual([]);
      expect((await h.store.listGrants()).map((g) => g.ip)).toEqual(["203.0.113.10"]);
    });

    it("answers ping", async () => {
      await expect(h.store.ping()).resolves.toBeUndefined();
    });

    describeBanContract(() => h);
  });
}

import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { MemoryStore } from "../../src/store/memory.js";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import type { KnockStore } from "../../src/store/types.js";

/** Bans as the admin API reads them; the same behaviour from both stores. */
function banSuite(name: string, create: (now: () => number) => Promise<KnockStore>): void {
  describe(`${name} bans`, () => {
    // Redis expires keys on its own clock, so the fake clock starts at real time.
    let clock = Date.now();
    let store: KnockStore;
    beforeAll(async () => {
      store = await create(() => clock);
    });
    afterAll(() => store.close());

    it("lists bans in force, soonest lift first, and forgets lifted ones", async () => {
      await store.ban("203.0.113.1", clock + 60_000, "failures");
      await store.ban("2001:db8::1", clock + 30_000, "flood");
      await store.ban("203.0.113.2", clock + 1_000, "failures");
      expect((await store.listBans()).map((b) => b.ip)).toEqual([
        "203.0.113.2",
        "2001:db8::1",
        "203.0.113.1",
      ]);
      clock += 1_000;
      expect(await store.listBans()).toEqual([
        { ip: "2001:db8::1", until: clock + 29_000, reason: "flood" },
        { ip: "203.0.113.1", until: clock + 59_000, reason: "failures" },
      ]);
    });

    it("replaces a ban of the same IP", async () => {
      await store.ban("203.0.113.1", clock + 90_000, "again");
      const bans = await store.listBans();
      expect(bans.filter((b) => b.ip === "203.0.113.1")).toEqual([
        { ip: "203.0.113.1", until: clock + 90_000, reason: "again" },
      ]);
    });

    it("unban reports whether a ban was in force", async () => {
      expect(await store.unban("2001:db8::1")).toBe(true);
      expect(await store.unban("2001:db8::1")).toBe(false);
      await store.ban("198.51.100.1", clock + 10, "short");
      clock += 10;
      expect(await store.unban("198.51.100.1")).toBe(false);
      expect((await store.listBans()).map((b) => b.ip)).toEqual(["203.0.113.1"]);
    });
  });
}

banSuite("MemoryStore", (now) => Promise.resolve(new MemoryStore(now)));
banSuite("RedisStore", async (now) => {
  // The fail-closed client has no offline queue: wait until it is connected.
  const client = createRedisClient(inject("redisUrl"));
  await once(client, "ready");
  const prefix = `wkbans${String(process.pid)}:`;
  await client.del(`${prefix}b`, `${prefix}bx`);
  return new RedisStore(client, prefix, now);
});

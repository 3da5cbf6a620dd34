import { expect, it } from "vitest";
import type { AdvanceRequest, BanCursor } from "../../src/store/types.js";
import type { StoreHarness } from "./contract.js";

const step = (index: number, ip: string): AdvanceRequest => ({
  door: "ssh",
  ip,
  step: index,
  length: 2,
  sequenceTimeoutMs: 5000,
  challenge: { token: `ban-${ip}-${index}`, ttlMs: 5000 },
});

/**
 * Bans (scanner defence): part of the KnockStore contract, called from
 * describeStoreContract so every store runs it. `harness` is read per test.
 */
export function describeBanContract(harness: () => StoreHarness): void {
  it("gives a banned IP two walks of the sequence per window, then ignores its steps", async () => {
    const { store } = harness();
    await store.ban("203.0.113.55", 5000, "scanner");
    // The door has 2 steps: a budget of 4 steps, enough for two walks.
    expect(await store.advance(step(0, "203.0.113.55"))).toBe("progress");
    expect(await store.advance(step(1, "203.0.113.55"))).toBe("challenge");
    expect(await store.advance(step(0, "203.0.113.55"))).toBe("reset");
    expect(await store.advance(step(1, "203.0.113.55"))).toBe("challenge");
    expect(await store.advance(step(0, "203.0.113.55"))).toBe("banned");
    expect(await store.advance(step(1, "203.0.113.55"))).toBe("banned");
    // Unbanned: no budget.
    await store.unban("203.0.113.55");
    for (let i = 0; i < 6; i++)
      expect(await store.advance(step(i % 2, "203.0.113.55"))).not.toBe("banned");
  });

  it("ignores a banned IP's knocks past its budget without touching its progress", async () => {
    const { store } = harness();
    expect(await store.advance(step(0, "203.0.113.50"))).toBe("progress");
    await store.ban("203.0.113.50", 5000, "scanner");
    expect(await store.isBanned("203.0.113.50")).toBe(true);
    expect(await store.isBanned("203.0.113.51")).toBe(false);
    for (let i = 0; i < 4; i++) await store.advance(step(0, "203.0.113.50"));
    expect(await store.advance(step(1, "203.0.113.50"))).toBe("banned");
    expect(await store.advance(step(0, "203.0.113.51"))).toBe("progress");
    expect(await store.unban("203.0.113.50")).toBe(true);
    expect(await store.unban("203.0.113.50")).toBe(false);
    // Progress made before the ban survived it.
    expect(await store.advance(step(1, "203.0.113.50"))).toBe("challenge");
  });

  it("lists live bans soonest first with reason, and never shortens a ban", async () => {
    const h = harness();
    const now = h.now();
    await h.store.ban("2001:db8::7", 5000, "scanner");
    await h.store.ban("203.0.113.52", 3000, "admin");
    await h.store.ban("2001:db8::7", 1000, "shorter"); // ignored: the later expiry wins
    const { bans, next } = await h.store.listBans();
    expect(bans.map((b) => [b.ip, b.reason])).toEqual([
      ["203.0.113.52", "admin"],
      ["2001:db8::/64", "scanner"],
    ]);
    expect(next).toBeUndefined();
    expect(bans[1]?.until).toBeGreaterThanOrEqual(now + 5000);
    expect(bans[1]?.until).toBeLessThan(now + 5000 + 1000);
    expect(await h.store.countBans()).toBe(2);
  });

  it("bans an IPv6 /64 as one client, and an IPv4 address on its own", async () => {
    const { store } = harness();
    for (let i = 1; i <= 100; i++)
      await store.ban(`2001:db8:1:2::${i.toString(16)}`, 5000, "scanner");
    await store.ban("203.0.113.60", 5000, "scanner");
    expect(await store.countBans()).toBe(2);
    expect((await store.listBans()).bans.map((b) => b.ip)).toEqual([
      "2001:db8:1:2::/64",
      "203.0.113.60",
    ]);
    expect(await store.isBanned("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe(true);
    expect(await store.isBanned("2001:db8:1:3::1")).toBe(false);
    expect(await store.isBanned("203.0.113.61")).toBe(false);
    // Knocks from anywhere in the /64 share one budget.
    for (let i = 0; i < 4; i++) await store.advance(step(0, `2001:db8:1:2::${100 + i}`));
    expect(await store.advance(step(0, "2001:db8:1:2::abcd"))).toBe("banned");
    // Any address in it, or the prefix itself, lifts the ban.
    expect(await store.unban("2001:db8:1:2::dead")).toBe(true);
    expect(await store.unban("2001:db8:1:2::/64")).toBe(false);
    expect(await store.countBans()).toBe(1);
  });

  it("pages bans in order, each once, with a cursor", async () => {
    const { store } = harness();
    const ips = Array.from({ length: 25 }, (_, i) => `198.51.100.${i + 1}`);
    // Equal expiries on purpose: the order among them is still total (by subject).
    for (const ip of ips) await store.ban(ip, 5000 + (ips.indexOf(ip) % 3) * 1000, "scanner");
    const seen: string[] = [];
    let cursor: BanCursor | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await store.listBans({ limit: 7, ...(cursor ? { cursor } : {}) });
      expect(page.bans.length).toBeLessThanOrEqual(7);
      seen.push(...page.bans.map((b) => b.ip));
      if (page.next === undefined) break;
      cursor = page.next;
    }
    expect([...seen].sort()).toEqual([...ips].sort());
    expect(new Set(seen).size).toBe(25);
    const all = (await store.listBans({ limit: 1000 })).bans;
    expect(all.map((b) => b.ip)).toEqual(seen);
    expect(all.every((b, i) => i === 0 || (all[i - 1]?.until ?? 0) <= b.until)).toBe(true);
  });

  it("lets a ban expire by itself", async () => {
    const h = harness();
    await h.store.ban("203.0.113.53", 200, "scanner");
    await h.advanceTime(300);
    expect(await h.store.isBanned("203.0.113.53")).toBe(false);
    expect(await h.store.listBans()).toEqual({ bans: [] });
    expect(await h.store.countBans()).toBe(0);
    expect(await h.store.advance(step(0, "203.0.113.53"))).toBe("progress");
  });
}

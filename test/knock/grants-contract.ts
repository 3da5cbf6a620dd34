import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { DoorConfig } from "../../src/config/types.js";
import { GrantManager } from "../../src/knock/grants.js";
import { silentLogger } from "../../src/log.js";
import type { KnockStore } from "../../src/store/types.js";
import { RecordingFirewall, testConfig } from "../support/gateway.js";

const ssh = testConfig().doors[0];
if (ssh === undefined) throw new Error("test config has no door");
const door: DoorConfig = ssh;
/** The same ports as `door`, open twice as long. */
const longer: DoorConfig = { ...door, name: "longer", openForMs: door.openForMs * 2 };
/** One of `door`'s ports only. */
const narrow: DoorConfig = { ...door, name: "narrow", open: [{ proto: "tcp", port: 22 }] };
const DOOR_NAMES = [door.name, longer.name, narrow.name, "other"];
const IP = "203.0.113.7";

/** A store on a clock the test moves, and how to dispose of it. */
export interface GrantStoreHarness {
  readonly store: KnockStore;
  close(): Promise<void>;
}

/**
 * GrantManager's behaviour, written once and run on each store (the MemoryStore in the
 * unit lane, a real Redis in the system lane): the store is what tells the manager which
 * other grants still need a port, so both must give the same answers.
 */
export function describeGrantManager(
  name: string,
  createStore: (now: () => number) => Promise<GrantStoreHarness>,
): void {
  describe(`GrantManager on ${name}`, () => {
    let time = 0;
    const now = () => time;
    const tick = (ms: number) => (time += ms);
    let harness!: GrantStoreHarness;
    let firewall!: RecordingFirewall;
    let grants!: GrantManager;
    const manager = () =>
      new GrantManager(harness.store, firewall, now, silentLogger(), undefined, () => DOOR_NAMES);
    beforeEach(async () => {
      // Whole seconds from now: the Redis store keeps records until their expiry plus a grace.
      time = Math.ceil(Date.now() / 1000) * 1000;
      harness = await createStore(now);
      firewall = new RecordingFirewall();
      grants = manager();
    });
    afterEach(() => harness.close());

    const expiries = async () =>
      Object.fromEntries((await firewall.list()).map((r) => [`${r.proto}/${r.port}`, r.expiresAt]));

    it("opens every port of the door with the door's expiry and records the grant", async () => {
      const { grant, closeToken } = await grants.open(door, IP, "alice");
      expect(grant.expiresAt).toBe(now() + door.openForMs);
      expect(closeToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(grant.closeHash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(await harness.store.listGrants())).not.toContain(closeToken);
      expect(await firewall.list()).toHaveLength(door.open.length);
      expect(await harness.store.listGrants()).toEqual([grant]);
    });

    it("refreshes the expiry on a re-knock instead of adding rules", async () => {
      await grants.open(door, IP, "alice");
      tick(10_000);
      await grants.open(door, IP, "alice");
      const rules = await firewall.list();
      expect(rules).toHaveLength(door.open.length);
      expect(rules.every((r) => r.expiresAt === now() + door.openForMs)).toBe(true);
    });

    it("closes a grant when the sweeper finds it expired, not before", async () => {
      await grants.open(door, IP, "alice");
      tick(door.openForMs - 1);
      expect(await grants.sweep()).toBe(0);
      tick(1);
      expect(await grants.sweep()).toBe(1);
      expect(await firewall.list()).toEqual([]);
    });

    it("keeps a rule a re-knock refreshed after the sweeper read a stale listing", async () => {
      await grants.open(door, IP, "alice");
      tick(door.openForMs);
      const stale = await firewall.list();
      const list = vi.spyOn(firewall, "list").mockResolvedValueOnce(stale);
      await Promise.all([grants.open(door, IP, "alice"), grants.sweep()]);
      expect(list).toHaveBeenCalled();
      const rules = await firewall.list();
      expect(rules).toHaveLength(door.open.length);
      expect(rules.every((r) => r.expiresAt === now() + door.openForMs)).toBe(true);
    });

    it("never leaves a refreshed rule closed when a sweep races a re-knock", async () => {
      await grants.open(door, IP, "alice");
      tick(door.openForMs);
      await Promise.all([grants.sweep(), grants.open(door, IP, "alice")]);
      const rules = await firewall.list();
      expect(rules).toHaveLength(door.open.length);
      expect(rules.every((r) => r.expiresAt === now() + door.openForMs)).toBe(true);
      const records = await harness.store.listGrants();
      expect(records.map((g) => g.expiresAt)).toEqual([now() + door.openForMs]);
    });

    it("revokes at once", async () => {
      await grants.open(door, "2001:db8::7", "alice");
      expect((await grants.revoke(door.name, "2001:db8::7"))?.ip).toBe("2001:db8::7");
      expect(await firewall.list()).toEqual([]);
      expect(await harness.store.listGrants()).toEqual([]);
      expect(await grants.revoke(door.name, "2001:db8::7")).toBeUndefined();
    });

    describe("a port two doors' grants of one IP open", () => {
      it("stays open at the longer expiry when the shorter grant was opened last and expires", async () => {
        await grants.open(longer, IP, "alice");
        const until = now() + longer.openForMs;
        tick(1000);
        await grants.open(door, IP, "alice");
        expect(Object.values(await expiries())).toEqual(door.open.map(() => until));
        tick(door.openForMs);
        expect(await grants.sweep()).toBe(1);
        expect(Object.values(await expiries())).toEqual(door.open.map(() => until));
        time = until;
        expect(await grants.sweep()).toBe(1);
        expect(await firewall.list()).toEqual([]);
      });

      it("stays open when a restarted gateway sweeps the shorter grant (the store knows)", async () => {
        await grants.open(longer, IP, "alice");
        await grants.open(door, IP, "alice");
        tick(door.openForMs);
        expect(await manager().sweep()).toBe(1);
        expect(await firewall.list()).toHaveLength(door.open.length);
      });

      it("stays open when the other door's grant is revoked, at the remaining grant's expiry", async () => {
        await grants.open(door, IP, "alice");
        tick(1000);
        await grants.open(longer, IP, "alice");
        const until = now() + longer.openForMs;
        await grants.revoke(door.name, IP);
        expect(Object.values(await expiries())).toEqual(door.open.map(() => until));
      });

      it("shrinks to the remaining grant's expiry when the longer grant is revoked", async () => {
        await grants.open(longer, IP, "alice");
        await grants.open(door, IP, "alice");
        await grants.revoke(longer.name, IP);
        expect(Object.values(await expiries())).toEqual(
          door.open.map(() => now() + door.openForMs),
        );
        tick(door.openForMs);
        expect(await grants.sweep()).toBe(1);
        expect(await firewall.list()).toEqual([]);
      });

      it("closes only the ports no live grant needs any more", async () => {
        await grants.open(narrow, IP, "alice");
        await grants.open(door, IP, "alice");
        await grants.revoke(door.name, IP);
        expect(Object.keys(await expiries())).toEqual(["tcp/22"]);
        // Another IP's grant on the same door is no reason to keep this one's rule.
        await grants.open(door, "203.0.113.8", "bob");
        await grants.revoke(narrow.name, IP);
        expect((await firewall.list()).map((r) => r.ip)).not.toContain(IP);
      });
    });

    describe("close (the knocker's own token)", () => {
      it("closes the grant once: rules and record go, the token is spent", async () => {
        const { closeToken } = await grants.open(door, IP, "alice");
        expect((await grants.close(door.name, IP, closeToken))?.door).toBe(door.name);
        expect(await firewall.list()).toEqual([]);
        expect(await harness.store.listGrants()).toEqual([]);
        await grants.open(narrow, IP, "alice");
        expect(await grants.close(door.name, IP, closeToken)).toBeUndefined();
      });

      it("closes nothing for a wrong, foreign or replaced token, another IP or an expired grant", async () => {
        const first = await grants.open(door, IP, "alice");
        const theirs = await grants.open(door, "203.0.113.8", "bob");
        expect(await grants.close(door.name, IP, "A".repeat(43))).toBeUndefined();
        expect(await grants.close(door.name, IP, theirs.closeToken)).toBeUndefined();
        expect(await grants.close(door.name, "203.0.113.9", first.closeToken)).toBeUndefined();
        expect(await grants.close(longer.name, IP, first.closeToken)).toBeUndefined();
        const second = await grants.open(door, IP, "alice");
        expect(await grants.close(door.name, IP, first.closeToken)).toBeUndefined();
        expect(await firewall.list()).toHaveLength(2 * door.open.length);
        tick(door.openForMs);
        expect(await grants.close(door.name, IP, second.closeToken)).toBeUndefined();
        expect(await harness.store.listGrants()).toHaveLength(2);
      });

      it("lets exactly one of concurrent closes with one token through", async () => {
        const { closeToken } = await grants.open(door, IP, "alice");
        const other = manager();
        const results = await Promise.all(
          [grants, other, grants, other].map((m) => m.close(door.name, IP, closeToken)),
        );
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });

      it("keeps a port another door's live grant needs", async () => {
        await grants.open(narrow, IP, "alice");
        const { closeToken } = await grants.open(door, IP, "alice");
        await grants.close(door.name, IP, closeToken);
        expect(Object.keys(await expiries())).toEqual(["tcp/22"]);
      });
    });
  });
}

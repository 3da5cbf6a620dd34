import { describe, expect, it, vi } from "vitest";
import { GrantManager } from "../../src/knock/grants.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { RecordingFirewall, testConfig } from "../support/gateway.js";

const door = testConfig().doors[0];
if (door === undefined) throw new Error("test config has no door");

function setup(start = 1_800_000_000_000) {
  let time = start;
  const now = () => time;
  const firewall = new RecordingFirewall();
  const store = new MemoryStore(now);
  const grants = new GrantManager(store, firewall, now, silentLogger());
  return { firewall, store, grants, tick: (ms: number) => (time += ms), now };
}

describe("GrantManager", () => {
  it("opens every port of the door with the door's expiry and records the grant", async () => {
    const { firewall, store, grants, now } = setup();
    const grant = await grants.open(door, "203.0.113.7", "alice");
    expect(grant.expiresAt).toBe(now() + door.openForMs);
    expect(await firewall.list()).toHaveLength(door.open.length);
    expect(await store.listGrants()).toEqual([grant]);
  });

  it("refreshes the expiry on a re-knock instead of adding rules", async () => {
    const { firewall, grants, tick, now } = setup();
    await grants.open(door, "203.0.113.7", "alice");
    tick(10_000);
    await grants.open(door, "203.0.113.7", "alice");
    const rules = await firewall.list();
    expect(rules).toHaveLength(door.open.length);
    expect(rules.every((r) => r.expiresAt === now() + door.openForMs)).toBe(true);
  });

  it("closes a grant when the sweeper finds it expired, not before", async () => {
    const { firewall, grants, tick } = setup();
    await grants.open(door, "203.0.113.7", "alice");
    tick(door.openForMs - 1);
    expect(await grants.sweep()).toBe(0);
    tick(1);
    expect(await grants.sweep()).toBe(1);
    expect(await firewall.list()).toEqual([]);
  });

  it("reconciles after a restart with an empty store: expired rules close, live ones stay", async () => {
    const { firewall, tick, now } = setup();
    await firewall.open({ ip: "203.0.113.8", proto: "tcp", port: 22, expiresAt: now() + 5_000 });
    await firewall.open({ ip: "203.0.113.9", proto: "tcp", port: 22, expiresAt: now() + 60_000 });
    tick(10_000);
    const restarted = new GrantManager(new MemoryStore(now), firewall, now, silentLogger());
    expect(await restarted.reconcile()).toEqual({ closed: 1, adopted: 1 });
    expect((await firewall.list()).map((r) => r.ip)).toEqual(["203.0.113.9"]);
  });

  it("closes an adopted rule at its own expiry though the restarted store never knew it", async () => {
    const { firewall, tick, now } = setup();
    const expiresAt = now() + 5_000;
    await firewall.open({ ip: "203.0.113.8", proto: "tcp", port: 22, expiresAt });
    const restarted = new GrantManager(new MemoryStore(now), firewall, now, silentLogger());
    expect(await restarted.reconcile()).toEqual({ closed: 0, adopted: 1 });
    tick(4_999);
    expect(await restarted.sweep()).toBe(0);
    expect(await firewall.list()).toHaveLength(1);
    tick(1);
    expect(await restarted.sweep()).toBe(1);
    expect(await firewall.list()).toEqual([]);
  });

  it("keeps a rule a re-knock refreshed after the sweeper read a stale listing", async () => {
    const { firewall, grants, tick, now } = setup();
    await grants.open(door, "203.0.113.7", "alice");
    tick(door.openForMs);
    const stale = await firewall.list();
    const list = vi.spyOn(firewall, "list").mockResolvedValueOnce(stale);
    // The store sweep closes nothing (the re-knock's record is live), the listing says due.
    await Promise.all([grants.open(door, "203.0.113.7", "alice"), grants.sweep()]);
    expect(list).toHaveBeenCalled();
    const rules = await firewall.list();
    expect(rules).toHaveLength(door.open.length);
    expect(rules.every((r) => r.expiresAt === now() + door.openForMs)).toBe(true);
  });

  it("keeps a port another door's live grant holds when one door's grant expires", async () => {
    const { firewall, grants, tick, now } = setup();
    const other = { ...door, name: "other", openForMs: door.openForMs * 2 };
    await grants.open(door, "203.0.113.7", "alice");
    await grants.open(other, "203.0.113.7", "alice");
    tick(door.openForMs);
    expect(await grants.sweep()).toBe(1);
    const rules = await firewall.list();
    expect(rules).toHaveLength(door.open.length);
    expect(rules.every((r) => r.expiresAt === now() + door.openForMs)).toBe(true);
  });

  it("revokes at once", async () => {
    const { firewall, store, grants } = setup();
    await grants.open(door, "2001:db8::7", "alice");
    expect((await grants.revoke(door.name, "2001:db8::7"))?.ip).toBe("2001:db8::7");
    expect(await firewall.list()).toEqual([]);
    expect(await store.listGrants()).toEqual([]);
    expect(await grants.revoke(door.name, "2001:db8::7")).toBeUndefined();
  });

  it("never leaves a refreshed rule closed when a sweep races a re-knock", async () => {
    const { firewall, store, grants, tick, now } = setup();
    await grants.open(door, "203.0.113.7", "alice");
    tick(door.openForMs);
    await Promise.all([grants.sweep(), grants.open(door, "203.0.113.7", "alice")]);
    const rules = await firewall.list();
    expect(rules).toHaveLength(door.open.length);
    expect(rules.every((r) => r.expiresAt === now() + door.openForMs)).toBe(true);
    expect((await store.listGrants()).map((g) => g.expiresAt)).toEqual([now() + door.openForMs]);
  });
});

import { describe, expect, it } from "vitest";
import { GrantManager } from "../../src/knock/grants.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { RecordingFirewall } from "../support/gateway.js";
import { describeGrantManager } from "./grants-contract.js";

describeGrantManager("MemoryStore", (now) => {
  const store = new MemoryStore(now);
  return Promise.resolve({ store, close: () => store.close() });
});

/** Restarts with an empty store: only the firewall's own listing knows the rules. */
function restarted(start = 1_800_000_000_000) {
  let time = start;
  const now = () => time;
  const firewall = new RecordingFirewall();
  const manager = () =>
    new GrantManager(new MemoryStore(now), firewall, now, silentLogger(), undefined, () => []);
  return { firewall, manager, tick: (ms: number) => (time += ms), now };
}

describe("GrantManager after a restart that lost the store", () => {
  it("reconciles: expired rules close, live ones stay", async () => {
    const { firewall, manager, tick, now } = restarted();
    await firewall.open({ ip: "203.0.113.8", proto: "tcp", port: 22, expiresAt: now() + 5_000 });
    await firewall.open({ ip: "203.0.113.9", proto: "tcp", port: 22, expiresAt: now() + 60_000 });
    tick(10_000);
    expect(await manager().reconcile()).toEqual({ closed: 1, adopted: 1 });
    expect((await firewall.list()).map((r) => r.ip)).toEqual(["203.0.113.9"]);
  });

  it("closes an adopted rule at its own expiry though the store never knew it", async () => {
    const { firewall, manager, tick, now } = restarted();
    const expiresAt = now() + 5_000;
    await firewall.open({ ip: "203.0.113.8", proto: "tcp", port: 22, expiresAt });
    const grants = manager();
    expect(await grants.reconcile()).toEqual({ closed: 0, adopted: 1 });
    tick(4_999);
    expect(await grants.sweep()).toBe(0);
    expect(await firewall.list()).toHaveLength(1);
    tick(1);
    expect(await grants.sweep()).toBe(1);
    expect(await firewall.list()).toEqual([]);
  });
});

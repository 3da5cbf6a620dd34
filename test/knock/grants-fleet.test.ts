import { describe, expect, it } from "vitest";
import type { GrantEventSink, HostState } from "../../src/fleet/publisher.js";
import { GrantManager } from "../../src/knock/grants.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { GrantRecord } from "../../src/store/types.js";
import { RecordingFirewall, testConfig } from "../support/gateway.js";

const base = testConfig().doors[0];
if (base === undefined) throw new Error("test config has no door");

/** A sink that records what the gateway hands to the fleet, in order with the firewall's calls. */
class RecordingSink implements GrantEventSink {
  readonly calls: string[] = [];
  opened(grant: GrantRecord, hosts: readonly string[]): Promise<void> {
    this.calls.push(`opened ${grant.door} ${hosts.join(",")}`);
    return Promise.resolve();
  }
  revoked(grant: GrantRecord, hosts: readonly string[]): Promise<void> {
    this.calls.push(`revoked ${grant.door} ${hosts.join(",")}`);
    return Promise.resolve();
  }
  awaitConfirmations(
    _grant: GrantRecord,
    hosts: readonly string[],
  ): Promise<Record<string, HostState>> {
    return Promise.resolve(Object.fromEntries(hosts.map((h) => [h, "open" as const])));
  }
}

function setup(withSink = true) {
  let time = 1_800_000_000_000;
  const now = () => time;
  const firewall = new RecordingFirewall();
  const sink = new RecordingSink();
  const grants = new GrantManager(
    new MemoryStore(now),
    firewall,
    now,
    silentLogger(),
    withSink ? sink : undefined,
    () => ["ssh", "remote", "both"],
  );
  return { firewall, sink, grants, now, tick: (ms: number) => (time += ms) };
}

describe("GrantManager with doors that name fleet hosts", () => {
  it("opens no local rule for a door without local, announces it, and its expiry touches no local rule", async () => {
    const { firewall, sink, grants, tick, now } = setup();
    const remote = { ...base, name: "remote", hosts: ["web1", "web2"] };
    // A live local rule on the same IP and ports that this process did not write (adopted
    // after a restart): only the kernel's listing knows it.
    const expiresAt = now() + base.openForMs * 10;
    for (const { proto, port } of base.open) {
      await firewall.open({ ip: "203.0.113.7", proto, port, expiresAt });
    }
    const { grant } = await grants.open(remote, "203.0.113.7", "alice");
    expect(await grants.hostStates(grant, 10)).toEqual({ web1: "open", web2: "open" });
    expect(sink.calls).toEqual(["opened remote web1,web2"]);
    const before = await firewall.list();
    expect(before).toHaveLength(base.open.length);
    tick(base.openForMs);
    // The remote grant expires per the store; the live local rules on the same ports stay.
    expect(await grants.sweep()).toBe(1);
    expect(await firewall.list()).toEqual(before);
  });

  it("opens local rules and announces the others for [local, web1]; revoke closes and announces", async () => {
    const { firewall, sink, grants } = setup();
    const both = { ...base, name: "both", hosts: ["local", "web1"] };
    const { grant } = await grants.open(both, "203.0.113.8", "alice");
    expect(await firewall.list()).toHaveLength(base.open.length);
    expect(await grants.hostStates(grant, 10)).toEqual({ local: "open", web1: "open" });
    await grants.revoke("both", "203.0.113.8");
    expect(await firewall.list()).toEqual([]);
    expect(sink.calls).toEqual(["opened both web1", "revoked both web1"]);
  });

  it("refuses a door naming agents' hosts when no fleet is set up, opening nothing", async () => {
    const { firewall, grants } = setup(false);
    const remote = { ...base, name: "remote", hosts: ["local", "web1"] };
    await expect(grants.open(remote, "203.0.113.9", "alice")).rejects.toThrow(/no fleet/);
    expect(await firewall.list()).toEqual([]);
  });
});

import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FirewallError } from "../../src/errors.js";
import { IpsetFirewall } from "../../src/firewall/ipset.js";
import { NftablesFirewall } from "../../src/firewall/nftables.js";
import type { CommandRunner } from "../../src/firewall/runner.js";
import type { FirewallAdapter, FirewallRule } from "../../src/firewall/types.js";
import { createNetns, deleteNetns, deleteStaleNetns, type Netns } from "../support/netns.js";

const PORTS = [{ proto: "tcp", port: 22 }] as const;
const GRANTS = 20;

const rule = (n: number, ms = 60_000): FirewallRule => ({
  ip: `10.201.0.${n + 1}`,
  proto: "tcp",
  port: 22,
  expiresAt: Date.now() + ms,
});

/** Processes inside the namespace: with nothing else there, the session's tool. */
async function pidsIn(ns: Netns): Promise<number[]> {
  const { stdout } = await execa("ip", ["netns", "pids", ns.name]);
  return stdout.split("\n").filter(Boolean).map(Number);
}

const BACKENDS = {
  nftables: (run: CommandRunner, ns: Netns) =>
    new NftablesFirewall({ run, spawn: ns.spawn, now: Date.now }),
  ipset: (run: CommandRunner, ns: Netns) =>
    new IpsetFirewall({ run, spawn: ns.spawn, now: Date.now }),
} as const;

/**
 * The long-lived `nft -i` / `ipset -` session against a real kernel: grants cost no
 * process, a killed session process is replaced without losing a grant, and the kernel's
 * refusal still reaches the caller (a session must never turn an error into a success).
 */
describe.each(Object.keys(BACKENDS) as (keyof typeof BACKENDS)[])("%s session", (backend) => {
  let ns: Netns;
  let fw: FirewallAdapter;
  /** One-shot commands run since the last reset: a session grant adds none. */
  let oneShots: string[] = [];

  beforeAll(async () => {
    await deleteStaleNetns();
    ns = await createNetns("wksess");
    const counting: CommandRunner = (file, args, options) => {
      oneShots.push(`${file} ${args.join(" ")}`);
      return ns.run(file, args, options);
    };
    fw = BACKENDS[backend](counting, ns);
  });
  afterAll(async () => {
    (fw as FirewallAdapter | undefined)?.release?.();
    await deleteNetns(ns);
  });

  it("refuses a grant the kernel refuses (no table or set yet), with the tool's own error", async () => {
    await expect(fw.open(rule(0))).rejects.toThrow(FirewallError);
    await expect(fw.open(rule(0))).rejects.toThrow(/does not exist|No such file or directory/);
  });

  it("opens, refreshes and closes grants in one process, none per grant", async () => {
    await fw.init(PORTS);
    oneShots = [];
    for (let i = 0; i < GRANTS; i++) await fw.open(rule(i));
    for (let i = 0; i < GRANTS; i++) await fw.open(rule(i, 120_000));
    for (let i = 0; i < GRANTS / 2; i++) await fw.close(rule(i));
    expect(oneShots).toEqual([]);
    expect(await pidsIn(ns)).toHaveLength(1);
    const listed = await fw.list();
    expect(listed.map((r) => r.ip).sort()).toEqual(
      Array.from({ length: GRANTS / 2 }, (_, i) => rule(i + GRANTS / 2).ip).sort(),
    );
    for (const r of listed) expect(r.expiresAt).toBeGreaterThan(Date.now() + 100_000);
  });

  it("replaces a killed session process without losing the grant being made", async () => {
    const [before] = await pidsIn(ns);
    expect(before).toBeGreaterThan(0);
    await execa("kill", ["-9", String(before)]);
    // The dead process may not be noticed before this open is written to it: the open
    // then runs as a process of its own, and the next one starts a new session.
    await fw.open(rule(100));
    await fw.open(rule(101));
    const after = await pidsIn(ns);
    expect(after).toHaveLength(1);
    expect(after).not.toContain(before);
    const ips = (await fw.list()).map((r) => r.ip);
    expect(ips).toContain(rule(100).ip);
    expect(ips).toContain(rule(101).ip);
  });

  it("stops its process on release; the next grant starts one again", async () => {
    fw.release?.();
    for (let i = 0; i < 50 && (await pidsIn(ns)).length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await pidsIn(ns)).toEqual([]);
    await fw.open(rule(102));
    expect(await pidsIn(ns)).toHaveLength(1);
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { PortSpec } from "../../src/config/types.js";
import { UnsafeValueError } from "../../src/errors.js";
import { applyRules } from "../../src/firewall/batch.js";
import {
  ruleKey,
  type FirewallAdapter,
  type FirewallRule,
  type RuleKey,
} from "../../src/firewall/types.js";
import { createNetns, deleteNetns, deleteStaleNetns, type Netns } from "../support/netns.js";

/** What a backend's test file hands the shared suite. */
export interface ContractTarget {
  /** A fresh adapter over the namespace; called again to play a restarted gateway. */
  create(ns: Netns, now: () => number): FirewallAdapter;
  /** How many entries the kernel (or the stand-in program) holds for `key`, read directly. */
  count?(ns: Netns, key: RuleKey): Promise<number>;
  /** False where `list()` is memory only (command, log): a restart forgets, by design. */
  readonly survivesRestart: boolean;
}

/** Protected ports every contract test initialises. */
export const CONTRACT_PORTS: readonly PortSpec[] = [
  { proto: "tcp", port: 22 },
  { proto: "udp", port: 51820 },
  { proto: "tcp", port: 22 },
];

const V4 = "10.200.9.7";
const V6 = "fd00:200:9::7";
/** The listed expiry may lag by the kernel's one-second resolution. */
const SLACK_MS = 2000;

/** Foreign rules, chains, tables and sets in every tool, made before webknock runs. */
async function addForeignObjects(ns: Netns): Promise<void> {
  for (const [bin, src] of [
    ["iptables", "192.0.2.99"],
    ["ip6tables", "2001:db8::99"],
  ] as const) {
    await ns.exec(bin, ["-w", "-N", "FOREIGN"]);
    await ns.exec(bin, ["-w", "-A", "FOREIGN", "-s", src, "-j", "ACCEPT"]);
    await ns.exec(bin, [
      "-w",
      "-A",
      "INPUT",
      "-s",
      src,
      "-p",
      "tcp",
      "--dport",
      "22",
      "-j",
      "DROP",
    ]);
  }
  await ns.exec(
    "nft",
    ["-f", "-"],
    [
      "add table inet foreign",
      "add chain inet foreign input { type filter hook input priority 0; policy accept; }",
      "add rule inet foreign input tcp dport 9999 accept",
      "add set inet foreign hosts { type ipv4_addr; }",
      "add element inet foreign hosts { 192.0.2.1 }",
      "",
    ].join("\n"),
  );
  await ns.exec("ipset", ["create", "FOREIGN4", "hash:ip"]);
  await ns.exec("ipset", ["add", "FOREIGN4", "192.0.2.97"]);
}

/** Everything every firewall tool shows in the namespace, for before/after comparisons. */
export async function kernelSnapshot(ns: Netns): Promise<string> {
  const parts = [
    await ns.exec("iptables", ["-w", "-S"]),
    await ns.exec("ip6tables", ["-w", "-S"]),
    await ns.exec("nft", ["list", "ruleset"]),
    await ns.exec("ipset", ["save"]),
  ];
  return parts.join("\n----\n");
}

const rule = (ip: string, expiresAt: number, port = 22): FirewallRule => ({
  ip,
  proto: "tcp",
  port,
  expiresAt,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The behaviour every firewall backend shares, run against the real kernel inside a
 * namespace the suite creates (and deletes, even on failure).
 */
export function describeFirewallContract(name: string, target: ContractTarget): void {
  describe(`${name} adapter contract`, () => {
    let ns: Netns;
    let adapter: FirewallAdapter;
    let foreignOnly: string;
    // Each adapter made here, to stop its session process (if it keeps one) at the end.
    const made: FirewallAdapter[] = [];
    const make = (): FirewallAdapter => {
      const created = target.create(ns, Date.now);
      made.push(created);
      return created;
    };
    const find = async (a: FirewallAdapter, ip: string, port = 22) =>
      (await a.list()).filter((r) => r.ip === ip && r.port === port && r.proto === "tcp");

    beforeAll(async () => {
      await deleteStaleNetns();
      ns = await createNetns();
      await addForeignObjects(ns);
      foreignOnly = await kernelSnapshot(ns);
    });
    afterAll(async () => {
      for (const created of made) created.release?.();
      await deleteNetns(ns);
    });
    beforeEach(async () => {
      adapter = make();
      await adapter.uninstall();
      await adapter.init(CONTRACT_PORTS);
    });

    it("lists an opened rule with its expiry", async () => {
      const expiresAt = Date.now() + 60_000;
      await adapter.open(rule(V4, expiresAt));
      const [listed, ...more] = await find(adapter, V4);
      expect(more).toEqual([]);
      expect(listed?.expiresAt).toBeGreaterThan(expiresAt - SLACK_MS);
      expect(listed?.expiresAt).toBeLessThanOrEqual(expiresAt + SLACK_MS);
      if (target.count) expect(await target.count(ns, rule(V4, 0))).toBe(1);
    });

    it("refreshes the expiry on a second open without a duplicate, even concurrently", async () => {
      await adapter.open(rule(V4, Date.now() + 30_000));
      const later = Date.now() + 120_000;
      await Promise.all([1, 2, 3, 4].map(() => adapter.open(rule(V4, later))));
      const listed = await find(adapter, V4);
      expect(listed).toHaveLength(1);
      expect(listed[0]?.expiresAt).toBeGreaterThan(later - SLACK_MS);
      if (target.count) expect(await target.count(ns, rule(V4, 0))).toBe(1);
    });

    it("closes, and closing again or closing an unknown rule is a no-op", async () => {
      await adapter.open(rule(V4, Date.now() + 60_000));
      await adapter.open(rule(V4, Date.now() + 60_000, 51820));
      await adapter.close(rule(V4, 0));
      expect(await find(adapter, V4)).toEqual([]);
      expect(await find(adapter, V4, 51820)).toHaveLength(1);
      await adapter.close(rule(V4, 0));
      await adapter.close(rule("10.200.9.8", 0));
      if (target.count) expect(await target.count(ns, rule(V4, 0))).toBe(0);
    });

    it("handles IPv6 and compares addresses in canonical form", async () => {
      await adapter.open(rule("fd00:200:9:0:0:0:0:7", Date.now() + 60_000));
      expect(await find(adapter, V6)).toHaveLength(1);
      await adapter.open(rule(V6, Date.now() + 90_000));
      expect(await find(adapter, V6)).toHaveLength(1);
      await adapter.close(rule(V6, 0));
      expect(await find(adapter, V6)).toEqual([]);
    });

    it("still lists rules with their expiry from a new adapter instance (restart)", async () => {
      const expiresAt = Date.now() + 60_000;
      await adapter.open(rule(V4, expiresAt));
      const restarted = make();
      const listed = await find(restarted, V4);
      if (target.survivesRestart) {
        expect(listed).toHaveLength(1);
        expect(listed[0]?.expiresAt).toBeGreaterThan(expiresAt - SLACK_MS);
      } else {
        // Documented: memory-only list; the gateway reconciles from its store instead.
        expect(listed).toEqual([]);
      }
    });

    it("expires: removed by the kernel itself, or reported as due so the sweeper deletes it", async () => {
      await adapter.open(rule(V4, Date.now() + 1500));
      expect(adapter.kernelExpiry || !adapter.kernelRemovesExpired).toBe(true);
      if (adapter.kernelRemovesExpired) {
        const deadline = Date.now() + 6000;
        for (let i = 0; i < 60 && Date.now() < deadline; i++) {
          if ((await find(adapter, V4)).length === 0) break;
          await sleep(200);
        }
        expect(await find(adapter, V4)).toEqual([]);
        if (target.count) expect(await target.count(ns, rule(V4, 0))).toBe(0);
      } else {
        await sleep(1600);
        const [due] = await find(adapter, V4);
        expect(due?.expiresAt).toBeLessThanOrEqual(Date.now());
      }
    });

    it("runs init twice to the same state, and a second init keeps live grants", async () => {
      const once = await kernelSnapshot(ns);
      await adapter.init(CONTRACT_PORTS);
      expect(await kernelSnapshot(ns)).toBe(once);
      await adapter.open(rule(V4, Date.now() + 60_000));
      await adapter.init(CONTRACT_PORTS);
      expect(await find(adapter, V4)).toHaveLength(1);
    });

    it("flush closes every grant and keeps the base ruleset, exactly as init left it", async () => {
      const base = await kernelSnapshot(ns);
      await adapter.open(rule(V4, Date.now() + 60_000));
      await adapter.open(rule(V4, Date.now() + 60_000, 51820));
      await adapter.open(rule(V6, Date.now() + 60_000));
      await adapter.flush();
      expect(await adapter.list()).toEqual([]);
      expect(await make().list()).toEqual([]);
      if (target.count) expect(await target.count(ns, rule(V4, 0))).toBe(0);
      expect(await kernelSnapshot(ns)).toBe(base);
      await adapter.flush();
      expect(await kernelSnapshot(ns)).toBe(base);
    });

    it("never touches foreign rules, and uninstall removes exactly what webknock made", async () => {
      await adapter.open(rule(V4, Date.now() + 60_000));
      await adapter.open(rule(V6, Date.now() + 60_000));
      await adapter.close(rule(V4, 0));
      const during = await kernelSnapshot(ns);
      expect(during).toContain("FOREIGN");
      expect(during).toContain("table inet foreign");
      await adapter.uninstall();
      expect(await kernelSnapshot(ns)).toBe(foreignOnly);
      await adapter.uninstall();
      expect(await kernelSnapshot(ns)).toBe(foreignOnly);
    });

    it("applies a batch like a close per key then an open per rule", async () => {
      await adapter.open(rule(V4, Date.now() + 30_000));
      await adapter.open(rule(V4, Date.now() + 60_000, 51820));
      await adapter.open(rule(V6, Date.now() + 60_000));
      const later = Date.now() + 120_000;
      // Hundreds where the backend batches; a few where each rule is its own command.
      const many = Array.from({ length: adapter.applyBatch ? 300 : 4 }, (_, i) =>
        rule(`10.200.${10 + Math.floor(i / 250)}.${(i % 250) + 1}`, later),
      );
      await applyRules(adapter, {
        // A refresh (listed twice: the later expiry wins), new IPv4 and IPv6 rules.
        open: [
          rule(V4, Date.now() + 60_000),
          rule(V4, later),
          ...many,
          rule("fd00:200:9::8", later),
        ],
        // An open rule of each family, and one that does not exist.
        close: [rule(V4, 0, 51820), rule(V6, 0), rule("10.200.9.99", 0)],
      });
      const listed = await adapter.list();
      const refreshed = await find(adapter, V4);
      expect(refreshed).toHaveLength(1);
      expect(refreshed[0]?.expiresAt).toBeGreaterThan(later - SLACK_MS);
      expect(await find(adapter, V4, 51820)).toEqual([]);
      expect(await find(adapter, V6)).toEqual([]);
      expect(await find(adapter, "fd00:200:9::8")).toHaveLength(1);
      expect(listed).toHaveLength(many.length + 2);
      if (target.count) expect(await target.count(ns, rule(V4, 0))).toBe(1);
      // An empty batch changes nothing; a hostile value rejects the batch before any command.
      const keys = async () => (await adapter.list()).map(ruleKey).sort();
      const before = await keys();
      await applyRules(adapter, { open: [], close: [] });
      await expect(
        applyRules(adapter, {
          open: [rule("10.200.9.50", later), rule("10.0.0.1; reboot", later)],
          close: [],
        }),
      ).rejects.toThrow(UnsafeValueError);
      expect(await keys()).toEqual(before);
      expect(await find(adapter, "10.200.9.50")).toEqual([]);
    });

    it("refuses hostile values before running anything", async () => {
      const before = await kernelSnapshot(ns);
      for (const ip of ["-j ACCEPT", "10.0.0.1; reboot", "::ffff:10.0.0.1", "fe80::1%eth0"]) {
        await expect(adapter.open(rule(ip, Date.now() + 1000))).rejects.toThrow(UnsafeValueError);
        await expect(adapter.close(rule(ip, 0))).rejects.toThrow(UnsafeValueError);
      }
      await expect(adapter.open(rule(V4, Date.now() + 1000, 0))).rejects.toThrow(UnsafeValueError);
      expect(await kernelSnapshot(ns)).toBe(before);
    });
  });
}

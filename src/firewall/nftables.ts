import type { PortSpec, Proto } from "../config/types.js";
import { familyOf, type Family } from "../net/ip.js";
import { NFT_DIALECT } from "./session.js";
import { RunnerAdapter, type RunnerAdapterOptions } from "./base.js";
import { FAMILIES } from "./xtables.js";
import { runChecked } from "./runner.js";
import { timedOpens, type TimedRule } from "./batch.js";
import type { FirewallAdapter, FirewallRule, RuleBatch, RuleKey } from "./types.js";
import {
  assertKernelName,
  assertPorts,
  assertRule,
  assertRuleKey,
  assertSeconds,
  readBackRule,
  secondsLeft,
} from "./validate.js";

/** The grant set of a family inside webknock's table. */
export const nftSetName = (family: Family): string => `allowed${family}`;

/** `IP . proto . port`, the concatenated key of a grant element. */
const element = (key: RuleKey): string => {
  const safe = assertRuleKey(key);
  return `${safe.ip} . ${safe.proto} . ${safe.port}`;
};

/**
 * The `nft -f -` script that builds webknock's table in one transaction. `add` is a no-op
 * for what exists (grants survive a second init), while the protected-port set and the
 * chain are flushed and refilled in the same commit, so there is no unprotected instant.
 * The drop lives in this table because an accept in one nftables table cannot override a
 * drop in another; priority `filter - 10` runs it before the usual filter chains.
 */
export function nftInitScript(table: string, ports: readonly PortSpec[]): string {
  const t = `inet ${assertKernelName(table)}`;
  const specs = assertPorts(ports);
  const lines = [
    `add table ${t}`,
    `add set ${t} allowed4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }`,
    `add set ${t} allowed6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }`,
    `add set ${t} protected { type inet_proto . inet_service; }`,
    `flush set ${t} protected`,
  ];
  if (specs.length > 0) {
    lines.push(
      `add element ${t} protected { ${specs.map((s) => `${s.proto} . ${s.port}`).join(", ")} }`,
    );
  }
  lines.push(
    `add chain ${t} input { type filter hook input priority filter - 10; policy accept; }`,
    `flush chain ${t} input`,
    `add rule ${t} input meta l4proto . th dport @protected ct state established,related accept`,
    `add rule ${t} input ip saddr . meta l4proto . th dport @allowed4 accept`,
    `add rule ${t} input ip6 saddr . meta l4proto . th dport @allowed6 accept`,
    `add rule ${t} input meta l4proto . th dport @protected ct state new drop`,
    "",
  );
  return lines.join("\n");
}

/**
 * Grants or refreshes in one transaction: add (so the delete cannot fail), delete, add with
 * the new timeout. nft 1.0.6 cannot update the timeout of an existing element in place,
 * and the transaction is atomic, so the grant never lapses and exists exactly once.
 */
export function nftOpenScript(table: string, rule: RuleKey, seconds: number): string {
  const t = `inet ${assertKernelName(table)}`;
  const set = nftSetName(familyOf(assertRuleKey(rule).ip));
  const timeout = assertSeconds(seconds);
  return [
    `add element ${t} ${set} { ${element(rule)} timeout ${timeout}s }`,
    `delete element ${t} ${set} { ${element(rule)} }`,
    `add element ${t} ${set} { ${element(rule)} timeout ${timeout}s }`,
    "",
  ].join("\n");
}

/** Removes a grant; the add first makes the delete succeed when it is already gone. */
export function nftCloseScript(table: string, rule: RuleKey): string {
  const t = `inet ${assertKernelName(table)}`;
  const set = nftSetName(familyOf(assertRuleKey(rule).ip));
  return [
    `add element ${t} ${set} { ${element(rule)} timeout 1s }`,
    `delete element ${t} ${set} { ${element(rule)} }`,
    "",
  ].join("\n");
}

/** Elements per `add`/`delete element` statement: keeps each line of the script a few tens of KB. */
const BATCH_CHUNK = 500;

/**
 * One transaction for a whole batch: for each set, the closes (add with a 1 s timeout so
 * the delete cannot fail, then delete), then the opens (add, delete, add with the new
 * timeout, as `nftOpenScript` does for one). `opens` holds one entry per key.
 */
export function nftBatchScript(
  table: string,
  opens: readonly TimedRule[],
  closes: readonly RuleKey[],
): string {
  const t = `inet ${assertKernelName(table)}`;
  const lines: string[] = [];
  const statement = (verb: "add" | "delete", set: string, items: readonly string[]) => {
    for (let i = 0; i < items.length; i += BATCH_CHUNK) {
      lines.push(`${verb} element ${t} ${set} { ${items.slice(i, i + BATCH_CHUNK).join(", ")} }`);
    }
  };
  for (const family of FAMILIES) {
    const set = nftSetName(family);
    const closing = closes.filter((key) => familyOf(assertRuleKey(key).ip) === family);
    statement(
      "add",
      set,
      closing.map((key) => `${element(key)} timeout 1s`),
    );
    statement("delete", set, closing.map(element));
    const opening = opens.filter(({ rule }) => familyOf(assertRuleKey(rule).ip) === family);
    const timed = opening.map(
      ({ rule, seconds }) => `${element(rule)} timeout ${assertSeconds(seconds)}s`,
    );
    statement("add", set, timed);
    statement(
      "delete",
      set,
      opening.map(({ rule }) => element(rule)),
    );
    statement("add", set, timed);
  }
  lines.push("");
  return lines.join("\n");
}

/** Empties both grant sets in one transaction; the table, chain and drop stay. */
export function nftFlushScript(table: string): string {
  const t = `inet ${assertKernelName(table)}`;
  return `flush set ${t} ${nftSetName(4)}\nflush set ${t} ${nftSetName(6)}\n`;
}

/** Deletes webknock's table, whether or not it exists, and nothing else. */
export function nftUninstallScript(table: string): string {
  const t = `inet ${assertKernelName(table)}`;
  return `add table ${t}\ndelete table ${t}\n`;
}

const PROTO_NUMBERS: Readonly<Record<string, Proto>> = { "6": "tcp", "17": "udp" };

/** Parses `nft -j list set ...`: each element's remaining `expires` becomes an absolute expiry. */
export function parseNftSetJson(text: string, now: number): FirewallRule[] {
  const rules: FirewallRule[] = [];
  const doc = JSON.parse(text) as { nftables?: unknown };
  const items = Array.isArray(doc.nftables) ? (doc.nftables as unknown[]) : [];
  for (const item of items) {
    const elems = (item as { set?: { elem?: unknown } }).set?.elem;
    if (!Array.isArray(elems)) continue;
    for (const raw of elems as unknown[]) {
      const wrapped = (raw as { elem?: { val?: unknown; expires?: unknown } }).elem;
      const concat = ((wrapped?.val ?? raw) as { concat?: unknown }).concat;
      const expires = wrapped?.expires;
      if (!Array.isArray(concat) || typeof expires !== "number") continue; // no timeout: not ours
      const [ip, proto, port] = concat as unknown[];
      const rule = readBackRule({
        ip,
        proto: PROTO_NUMBERS[String(proto)] ?? proto,
        port,
        expiresAt: now + Math.max(expires, 0) * 1000,
      });
      if (rule) rules.push(rule);
    }
  }
  return rules;
}

/** Options of the nftables backend. */
export interface NftablesOptions extends RunnerAdapterOptions {
  /** webknock's own `inet` table. */
  readonly table?: string;
}

/**
 * Grants are elements with a timeout in sets of webknock's own `inet` table; the kernel
 * removes them at expiry even if the gateway is dead (`kernelExpiry` true).
 */
export class NftablesFirewall extends RunnerAdapter implements FirewallAdapter {
  readonly name = "nftables";
  readonly kernelExpiry = true;
  readonly kernelRemovesExpired = true;
  private readonly table: string;

  constructor(options: NftablesOptions) {
    super(options);
    this.table = assertKernelName(options.table ?? "webknock");
  }

  init(ports: readonly PortSpec[]): Promise<void> {
    return this.serial(async () => {
      await this.apply(nftInitScript(this.table, ports));
      this.startSession(NFT_DIALECT);
    });
  }

  open(rule: FirewallRule): Promise<void> {
    return this.serial(() => {
      const safe = assertRule(rule);
      return this.applyOne(
        nftOpenScript(this.table, safe, secondsLeft(safe.expiresAt, this.now())),
      );
    });
  }

  close(rule: RuleKey): Promise<void> {
    return this.serial(() => this.applyOne(nftCloseScript(this.table, rule)));
  }

  applyBatch(batch: RuleBatch): Promise<void> {
    return this.serial(async () => {
      const opens = timedOpens(batch, this.now());
      if (opens !== undefined) await this.apply(nftBatchScript(this.table, opens, batch.close));
    });
  }

  list(): Promise<FirewallRule[]> {
    return this.serial(async () => {
      const rules: FirewallRule[] = [];
      for (const family of FAMILIES) {
        const out = await runChecked(this.run, "nft", [
          "-j",
          "list",
          "set",
          "inet",
          this.table,
          nftSetName(family),
        ]);
        rules.push(...parseNftSetJson(out, this.now()));
      }
      return rules;
    });
  }

  flush(): Promise<void> {
    return this.serial(async () => {
      const table = await this.run("nft", ["list", "table", "inet", this.table]);
      if (table.exitCode === 0) await this.apply(nftFlushScript(this.table));
    });
  }

  uninstall(): Promise<void> {
    return this.serial(() => this.apply(nftUninstallScript(this.table)));
  }

  /** One grant's script: a line of the session (`;` keeps it one transaction), or `nft -f -`. */
  private applyOne(script: string): Promise<void> {
    const line = script.trim().split("\n").join("; ");
    return this.inSession(NFT_DIALECT, line, () => this.apply(script));
  }

  private async apply(script: string): Promise<void> {
    await runChecked(this.run, "nft", ["-f", "-"], { input: script });
  }
}

import type { PortSpec } from "../config/types.js";
import type { CommandRunner } from "../firewall/runner.js";
import type { Finding } from "./types.js";

/**
 * Reading `nft -j list ruleset` for the doctor: which rules do what to which ports. Like
 * the iptables reader it is conservative: a match it cannot read counts as matching.
 */

/** One statement or match of a rule's `expr` list, as nft's JSON prints it. */
export type NftExpr = Readonly<Record<string, unknown>>;

/** A rule with where it lives. */
export interface NftRule {
  readonly family: string;
  readonly table: string;
  readonly chain: string;
  readonly handle: number;
  readonly expr: readonly NftExpr[];
}

/** A base chain's hook and priority (regular chains have neither). */
export interface NftChain {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly hook?: string;
  readonly prio?: number;
}

/** The parts of a ruleset the checks read. */
export interface NftRuleset {
  readonly chains: readonly NftChain[];
  readonly rules: readonly NftRule[];
  readonly sets: readonly { table: string; family: string; name: string; elem: unknown[] }[];
}

/** Tables that iptables-nft owns; the iptables readers cover them (legacy ones too). */
const XTABLES_TABLES = new Set(["filter", "nat", "raw", "mangle", "security"]);

/** True for a table iptables-nft made (`ip`/`ip6` family, an iptables table name). */
export const isXtablesTable = (family: string, table: string): boolean =>
  (family === "ip" || family === "ip6") && XTABLES_TABLES.has(table);

/** What reading nftables gave: the ruleset, or why there is none. */
export type NftListing =
  | { readonly ruleset: NftRuleset }
  /** nft is not installed: an iptables-legacy host has no nftables rules to read. */
  | { readonly absent: true }
  /** nft ran and refused (no permission, no such table): its message. */
  | { readonly failure: string };

/** `nft -j list ruleset` (or one table), parsed. */
export async function listNft(
  run: CommandRunner,
  what: readonly string[] = ["ruleset"],
): Promise<NftListing> {
  let result;
  try {
    result = await run("nft", ["-j", "list", ...what]);
  } catch {
    return { absent: true };
  }
  if (result.exitCode !== 0)
    return { failure: result.stderr.trim() || `exit code ${result.exitCode}` };
  const items = (JSON.parse(result.stdout) as { nftables?: unknown[] }).nftables ?? [];
  const chains: NftChain[] = [];
  const rules: NftRule[] = [];
  const sets: NftRuleset["sets"][number][] = [];
  for (const item of items as Record<string, Record<string, unknown> | undefined>[]) {
    const { chain, rule, set } = item;
    if (chain !== undefined) chains.push(chain as unknown as NftChain);
    if (rule !== undefined) rules.push(rule as unknown as NftRule);
    if (set !== undefined) {
      const { table, family, name, elem } = set as {
        table: string;
        family: string;
        name: string;
        elem?: unknown[];
      };
      sets.push({ table, family, name, elem: elem ?? [] });
    }
  }
  return { ruleset: { chains, rules, sets } };
}

/** Rules of tables iptables does not own (those are read through iptables, legacy or not). */
export const nativeRules = (listing: NftListing): readonly NftRule[] =>
  "ruleset" in listing
    ? listing.ruleset.rules.filter((r) => !isXtablesTable(r.family, r.table))
    : [];

/** A warning when nftables could not be read (it is fine for nft not to be installed). */
export const unreadableNft = (listing: NftListing): Finding[] =>
  "failure" in listing
    ? [
        {
          severity: "warning",
          summary: `Cannot read the nftables ruleset (${listing.failure}); nftables rules were not checked.`,
          fix: "Run webknock doctor as root (or with CAP_NET_ADMIN).",
        },
      ]
    : [];

/** The rule's text as `nft -a list chain` prints it, or a placeholder naming its handle. */
export async function nftRuleText(run: CommandRunner, rule: NftRule): Promise<string> {
  const listing = await run("nft", ["-a", "list", "chain", rule.family, rule.table, rule.chain]);
  const suffix = `# handle ${rule.handle}`;
  const line = listing.stdout.split("\n").find((l) => l.trim().endsWith(suffix));
  const text = line?.trim().slice(0, -suffix.length).trim() ?? `rule handle ${rule.handle}`;
  return `${rule.family} ${rule.table} ${rule.chain}: ${text}`;
}

/** True when the rule has a statement `name` (`accept`, `drop`, `notrack`, `dnat`, ...). */
export const hasStatement = (rule: NftRule, name: string): boolean =>
  rule.expr.some((e) => name in e);

/** True when a value (number, `{set}`, `{range}`) can contain `port`; unknown forms can. */
function valueHasPort(value: unknown, port: number): boolean {
  if (typeof value === "number") return value === port;
  if (Array.isArray(value)) return value.some((v) => valueHasPort(v, port));
  if (typeof value === "object" && value !== null) {
    const { set, range } = value as { set?: unknown; range?: unknown };
    if (set !== undefined) return valueHasPort(set, port);
    if (Array.isArray(range)) return Number(range[0]) <= port && port <= Number(range[1]);
  }
  return true;
}

/**
 * True when the rule's destination-port and protocol matches can select `spec`. Reads
 * `tcp dport`, `udp dport`, `th dport` and `meta l4proto`; any other match is ignored,
 * which errs towards matching.
 */
export function nftMatchesPort(rule: NftRule, spec: PortSpec): boolean {
  for (const e of rule.expr) {
    const match = e.match as { op?: string; left?: unknown; right?: unknown } | undefined;
    if (match === undefined || match.op === "!=") continue;
    const left = match.left as {
      payload?: { protocol?: string; field?: string };
      meta?: { key?: string };
    };
    if (left.payload?.field === "dport") {
      const proto = left.payload.protocol;
      if ((proto === "tcp" || proto === "udp") && proto !== spec.proto) return false;
      if (!valueHasPort(match.right, spec.port)) return false;
    }
    if (
      left.meta?.key === "l4proto" &&
      typeof match.right === "string" &&
      match.right !== spec.proto
    ) {
      return false;
    }
  }
  return true;
}

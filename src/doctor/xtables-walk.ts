import type { Family } from "../net/ip.js";
import type { CommandRunner } from "../firewall/runner.js";
import { xtablesBinary } from "../firewall/xtables.js";
import { parseXtRule, targetOf, type XtRule } from "./xtables-match.js";

/** Chains deeper than this are not followed (real rulesets nest two or three levels). */
const MAX_DEPTH = 4;
/** Built-in targets: anything else after `-j` is a user chain to follow. */
const BUILTIN_TARGETS = new Set([
  "ACCEPT", "DROP", "REJECT", "RETURN", "LOG", "NFLOG", "DNAT", "SNAT", "MASQUERADE",
  "REDIRECT", "NOTRACK", "CT", "MARK", "CONNMARK", "TCPMSS", "QUEUE", "NFQUEUE", "AUDIT",
  "TRACE", "SET", "CHECKSUM", "TEE", "ULOG",
]); // prettier-ignore

/** A rule reached from a built-in chain, with the chains followed to get there. */
export interface ReachedRule {
  readonly rule: XtRule;
  /** Chains jumped through, outermost first (empty for the start chain's own rules). */
  readonly via: readonly string[];
}

/** `iptables -t TABLE -S CHAIN` as parsed rules; undefined when the chain does not exist. */
export async function listChain(
  run: CommandRunner,
  family: Family,
  table: string,
  chain: string,
): Promise<XtRule[] | undefined> {
  const result = await run(xtablesBinary(family), ["-w", "-t", table, "-S", chain]);
  if (result.exitCode !== 0) return undefined;
  return result.stdout
    .split("\n")
    .map(parseXtRule)
    .filter((rule): rule is XtRule => rule !== undefined);
}

/**
 * Every rule a packet can meet from `rules` on, following jumps into user chains (bounded
 * in depth, each chain once), in evaluation order. `stop` ends the walk at a rule (the
 * jump to webknock's chain: what comes after it cannot bypass it).
 */
export async function reachableRules(
  run: CommandRunner,
  family: Family,
  table: string,
  rules: readonly XtRule[],
  stop: (rule: XtRule) => boolean = () => false,
  via: readonly string[] = [],
  seen: Set<string> = new Set(),
): Promise<ReachedRule[]> {
  const reached: ReachedRule[] = [];
  for (const rule of rules) {
    if (stop(rule)) break;
    reached.push({ rule, via });
    const target = targetOf(rule);
    if (target === undefined || BUILTIN_TARGETS.has(target) || seen.has(target)) continue;
    if (via.length >= MAX_DEPTH) continue;
    seen.add(target);
    const inner = await listChain(run, family, table, target);
    if (inner !== undefined) {
      reached.push(
        ...(await reachableRules(run, family, table, inner, () => false, [...via, target], seen)),
      );
    }
  }
  return reached;
}

/** `IPv4` or `IPv6`, for messages. */
export const familyName = (family: Family): string => `IPv${family}`;

import type { PortSpec } from "../config/types.js";
import { protectedPorts } from "../cli/commands/firewall.js";
import { FAMILIES, xtablesBinary } from "../firewall/xtables.js";
import type { Check, DoctorContext, Finding } from "./types.js";
import { familyName, listChain, reachableRules, type ReachedRule } from "./xtables-walk.js";
import { deleteCommand, matchesNew, matchesPort, targetOf } from "./xtables-match.js";
import {
  hasStatement,
  listNft,
  nativeRules,
  nftMatchesPort,
  nftRuleText,
  unreadableNft,
} from "./nft-ruleset.js";

const portName = (spec: PortSpec): string => `${spec.proto}/${spec.port}`;

/** Rules an iptables table's built-in chain reaches, in both families. */
async function reachedIn(
  ctx: DoctorContext,
  table: string,
  chain: string,
): Promise<(ReachedRule & { family: 4 | 6 })[]> {
  const all: (ReachedRule & { family: 4 | 6 })[] = [];
  for (const family of FAMILIES) {
    const rules = await listChain(ctx.run, family, table, chain);
    if (rules === undefined) continue;
    for (const reached of await reachableRules(ctx.run, family, table, rules)) {
      all.push({ ...reached, family });
    }
  }
  return all;
}

/**
 * Connection tracking switched off for a door's port (`notrack`, `-j CT --notrack`) makes
 * its packets UNTRACKED: webknock's drop matches NEW connections, so they pass it. This is
 * the way an earlier hook can bypass webknock; an earlier accept cannot, and is reported
 * as information only (an accept ends its own base chain, webknock's drop still runs).
 */
export const untrackedCheck: Check = {
  name: "hooks",
  async run(ctx) {
    const ports = protectedPorts(ctx.config);
    const findings: Finding[] = [];
    for (const { rule, family } of await reachedIn(ctx, "raw", "PREROUTING")) {
      const target = targetOf(rule);
      const untracks =
        target === "NOTRACK" || (target === "CT" && rule.tokens.includes("--notrack"));
      if (!untracks) continue;
      for (const spec of ports.filter((p) => matchesPort(rule, p))) {
        findings.push({
          severity: "problem",
          summary: `${familyName(family)}: \`${rule.text}\` switches connection tracking off for ${portName(spec)}, so new connections skip webknock's drop.`,
          fix: `Delete it (\`${deleteCommand(xtablesBinary(family), "raw", rule)}\`) or exclude ${portName(spec)} from it.`,
        });
      }
    }
    const listing = await listNft(ctx.run);
    findings.push(...unreadableNft(listing));
    for (const rule of nativeRules(listing)) {
      for (const spec of ports.filter((p) => nftMatchesPort(rule, p))) {
        if (hasStatement(rule, "notrack")) {
          findings.push({
            severity: "problem",
            summary: `\`${await nftRuleText(ctx.run, rule)}\` switches connection tracking off for ${portName(spec)}, so new connections skip webknock's drop.`,
            fix: `Delete it (\`nft delete rule ${rule.family} ${rule.table} ${rule.chain} handle ${rule.handle}\`) or exclude ${portName(spec)} from it.`,
          });
        } else if (hasStatement(rule, "accept") && rule.table !== ctx.config.firewall.table) {
          findings.push({
            severity: "info",
            summary: `\`${await nftRuleText(ctx.run, rule)}\` accepts ${portName(spec)}; not a bypass: an nftables accept ends only its own chain, webknock's drop still runs.`,
          });
        }
      }
    }
    if (!findings.some((f) => f.severity === "problem" || f.severity === "warning")) {
      findings.push({
        severity: "ok",
        summary: "No rule switches connection tracking off for a door's port.",
      });
    }
    return findings;
  },
};

/** Ways to guard a forwarded port, since Docker's DNAT takes it past INPUT. */
const dockerFix = (spec: PortSpec): string =>
  `Drop it for the forward path before Docker's rules: \`iptables -I DOCKER-USER -p ${spec.proto} -m conntrack --ctorigdstport ${spec.port} --ctstate NEW -j DROP\` (and ip6tables), or an nftables chain \`type filter hook forward priority filter - 10\` with \`ct original proto-dst ${spec.port} ct state new drop\`; or publish the port on 127.0.0.1 only. webknock's grants live on INPUT and do not open forwarded ports.`;

/**
 * Ports that nat PREROUTING rewrites (Docker's `DOCKER` chain, any DNAT) are forwarded to
 * another address: they never pass INPUT, where webknock's drop is (knocker#17,
 * fwknop#238). A door's port forwarded this way is open to everyone unless DOCKER-USER
 * drops it; any other forwarded port is reported so the administrator knows.
 */
export const dockerCheck: Check = {
  name: "docker",
  async run(ctx) {
    const ports = protectedPorts(ctx.config);
    const findings: Finding[] = [];
    const guarded = async (family: 4 | 6, spec: PortSpec): Promise<boolean> => {
      const rules = (await listChain(ctx.run, family, "filter", "DOCKER-USER")) ?? [];
      return rules.some(
        (rule) =>
          ["DROP", "REJECT"].includes(targetOf(rule) ?? "") &&
          matchesNew(rule) &&
          matchesPort(rule, spec) &&
          rule.tokens.some((t) => t === "--ctorigdstport" || t === "--dport"),
      );
    };
    for (const { rule, family, via } of await reachedIn(ctx, "nat", "PREROUTING")) {
      if (targetOf(rule) !== "DNAT") continue;
      const where = via.length > 0 ? ` (chain ${via.join(" -> ")})` : "";
      const doors = ports.filter((p) => matchesPort(rule, p));
      for (const spec of doors) {
        if (await guarded(family, spec)) continue;
        findings.push({
          severity: "problem",
          summary: `${familyName(family)}: \`${rule.text}\`${where} forwards ${portName(spec)} before INPUT, so webknock's rule never sees it: the port is open to everyone.`,
          fix: dockerFix(spec),
        });
      }
      if (doors.length === 0) {
        findings.push({
          severity: "warning",
          summary: `${familyName(family)}: \`${rule.text}\`${where} forwards a port past INPUT; webknock does not guard it (it is in no door).`,
          fix: "If it should be guarded, filter it in DOCKER-USER or an nftables forward hook; or publish it on 127.0.0.1 only.",
        });
      }
    }
    const listing = await listNft(ctx.run);
    findings.push(...unreadableNft(listing));
    for (const rule of nativeRules(listing)) {
      if (!hasStatement(rule, "dnat")) continue;
      for (const spec of ports.filter((p) => nftMatchesPort(rule, p))) {
        findings.push({
          severity: "problem",
          summary: `\`${await nftRuleText(ctx.run, rule)}\` forwards ${portName(spec)} before the input hook, so webknock's rule never sees it.`,
          fix: dockerFix(spec),
        });
      }
    }
    if (!findings.some((f) => f.severity === "problem" || f.severity === "warning")) {
      findings.push({ severity: "ok", summary: "No DNAT takes a port past INPUT." });
    }
    return findings;
  },
};

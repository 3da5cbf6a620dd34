import { protectedPorts } from "../cli/commands/firewall.js";
import type { Check, Finding } from "./types.js";
import { hasStatement, listNft, nftRuleText, type NftRule } from "./nft-ruleset.js";

/** A rule of webknock's own chain that init writes (established, or a grant-set match). */
function isOwnAccept(rule: NftRule): boolean {
  const text = JSON.stringify(rule.expr);
  return (
    text.includes('"@allowed4"') ||
    text.includes('"@allowed6"') ||
    (text.includes('"@protected"') && text.includes('"established"'))
  );
}

/**
 * The nftables backend: webknock's `inet` table (both families at once) must hook input,
 * protect every door's port and drop new connections to them, with no accept but its own
 * ahead of the drop. An accept in another table is no bypass: it ends only that table's
 * chain, and webknock's drop still runs (see docs/operations.md).
 */
export const nftFirewallCheck: Check = {
  name: "firewall",
  async run(ctx) {
    const { backend, table } = ctx.config.firewall;
    if (backend !== "nftables") return [];
    const init = `webknock firewall init -c ${ctx.configPath}`;
    const ports = protectedPorts(ctx.config);
    const listing = await listNft(ctx.run, ["table", "inet", table]);
    if ("failure" in listing && /permitted|denied/i.test(listing.failure)) {
      return [
        {
          severity: "problem",
          summary: `Cannot read nftables (${listing.failure}).`,
          fix: "Run webknock doctor as root (or with CAP_NET_ADMIN) on the gateway's host.",
        },
      ];
    }
    const ruleset = "ruleset" in listing ? listing.ruleset : undefined;
    const input = ruleset?.chains.find((c) => c.name === "input" && c.hook === "input");
    if (ruleset === undefined || input === undefined) {
      return [
        {
          severity: "problem",
          summary: `nftables table inet ${table} (or its input chain) is missing: nothing protects the doors' ports.`,
          fix: `Run \`${init}\` as root.`,
        },
      ];
    }
    const findings: Finding[] = [];
    const rules = ruleset.rules.filter((r) => r.chain === "input");
    const drop = rules.findIndex(
      (r) => hasStatement(r, "drop") && JSON.stringify(r.expr).includes('"@protected"'),
    );
    if (drop < 0) {
      findings.push({
        severity: "problem",
        summary: `inet ${table} input has no drop of new connections to the protected ports.`,
        fix: `Run \`${init}\` (it rebuilds the chain in one transaction; grants are kept).`,
      });
    }
    for (const rule of rules.slice(0, drop < 0 ? rules.length : drop)) {
      if (!hasStatement(rule, "accept") || isOwnAccept(rule)) continue;
      findings.push({
        severity: "problem",
        summary: `\`${await nftRuleText(ctx.run, rule)}\` is not webknock's and accepts before its drop, without a grant.`,
        fix: `Delete it (\`nft delete rule inet ${table} input handle ${rule.handle}\`); put host rules in a table of their own.`,
      });
    }
    const set = ruleset.sets.find((s) => s.name === "protected");
    const listed = new Set(
      (set?.elem ?? []).map((e) => (e as { concat?: unknown[] }).concat?.join("/") ?? ""),
    );
    for (const spec of ports) {
      if (!listed.has(`${spec.proto}/${spec.port}`)) {
        findings.push({
          severity: "problem",
          summary: `${spec.proto}/${spec.port} is not in the protected set of inet ${table}.`,
          fix: `Run \`${init}\`.`,
        });
      }
    }
    if (findings.length === 0) {
      findings.push({
        severity: "ok",
        summary: `inet ${table} hooks input at priority ${input.prio ?? "?"} for IPv4 and IPv6 and drops new connections to ${ports.map((p) => `${p.proto}/${p.port}`).join(", ")} without a grant.`,
      });
    }
    return findings;
  },
};

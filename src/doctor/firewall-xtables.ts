import type { PortSpec } from "../config/types.js";
import { protectedPorts } from "../cli/commands/firewall.js";
import { ipsetName } from "../firewall/ipset.js";
import { FAMILIES, xtablesBinary } from "../firewall/xtables.js";
import type { Family } from "../net/ip.js";
import type { Check, DoctorContext, Finding } from "./types.js";
import { familyName, listChain, reachableRules } from "./xtables-walk.js";
import {
  deleteCommand,
  loopbackOnly,
  matchesNew,
  matchesPort,
  sourceOf,
  targetOf,
  type XtRule,
} from "./xtables-match.js";

const portName = (spec: PortSpec): string => `${spec.proto}/${spec.port}`;

/** The drop line `baseChainScript` writes for a port, as `iptables -S` prints it back. */
const dropLine = (chain: string, spec: PortSpec): string =>
  `-A ${chain} -p ${spec.proto} -m ${spec.proto} --dport ${spec.port} -m conntrack --ctstate NEW -j DROP`;

/**
 * The iptables and ipset backends: in each family, INPUT must jump to webknock's chain, the
 * chain must drop new connections to every door's port, and nothing that INPUT reaches
 * before the jump (following jumps into other chains) may accept a new connection to one.
 */
export const xtablesFirewallCheck: Check = {
  name: "firewall",
  async run(ctx) {
    const { backend, chain } = ctx.config.firewall;
    if (backend !== "iptables" && backend !== "ipset") return [];
    const ports = protectedPorts(ctx.config);
    const init = `webknock firewall init -c ${ctx.configPath}`;
    const findings: Finding[] = [];
    const covered = new Map<Family, boolean>();
    for (const family of FAMILIES) {
      const before = findings.length;
      findings.push(...(await checkFamily(ctx, family, chain, ports, init)));
      covered.set(family, findings.length === before);
    }
    if (covered.get(4) === true && covered.get(6) === false) {
      findings.push({
        severity: "problem",
        summary:
          "IPv6 is not covered where IPv4 is: a client with an IPv6 address reaches the doors' ports without a grant.",
        fix: `Fix the IPv6 findings above (ip6tables); \`${init}\` builds both families.`,
      });
    }
    if (backend === "ipset") findings.push(...(await checkSets(ctx, chain, init)));
    if (findings.length === 0) {
      findings.push({
        severity: "ok",
        summary: `${chain} is reached first in IPv4 and IPv6 and drops new connections to ${ports.map(portName).join(", ") || "no ports"} without a grant.`,
      });
    }
    return findings;
  },
};

async function checkFamily(
  ctx: DoctorContext,
  family: Family,
  chain: string,
  ports: readonly PortSpec[],
  init: string,
): Promise<Finding[]> {
  const bin = xtablesBinary(family);
  const name = familyName(family);
  const input = await listChain(ctx.run, family, "filter", "INPUT");
  if (input === undefined) {
    return [
      {
        severity: "problem",
        summary: `${name}: cannot read the INPUT chain with ${bin}.`,
        fix: "Run webknock doctor as root (or with CAP_NET_ADMIN) on the gateway's host.",
      },
    ];
  }
  const isJump = (rule: XtRule) => rule.tokens.length === 4 && targetOf(rule) === chain;
  if (!input.some(isJump)) {
    return [
      {
        severity: "problem",
        summary: `${name}: INPUT has no jump to ${chain}, so nothing protects ${ports.map(portName).join(", ")} in ${name}.`,
        fix: `Run \`${init}\`.`,
      },
    ];
  }
  const findings: Finding[] = [];
  const own = (await listChain(ctx.run, family, "filter", chain)) ?? [];
  const lines = new Set(own.map((rule) => rule.text));
  for (const spec of ports) {
    if (!lines.has(dropLine(chain, spec))) {
      findings.push({
        severity: "problem",
        summary: `${name}: ${chain} does not drop new connections to ${portName(spec)}.`,
        fix: `Run \`${init}\` (it rebuilds the chain atomically; grants are kept).`,
      });
    }
  }
  const ahead = await reachableRules(ctx.run, family, "filter", input, isJump);
  for (const { rule, via } of ahead) {
    if (targetOf(rule) !== "ACCEPT" || loopbackOnly(rule) || !matchesNew(rule)) continue;
    for (const spec of ports.filter((p) => matchesPort(rule, p))) {
      const path = via.length > 0 ? ` (reached through ${via.join(" -> ")})` : "";
      findings.push({
        severity: "problem",
        summary: `${name}: \`${rule.text}\`${path} comes before the jump to ${chain} and accepts new connections to ${portName(spec)} ${sourceOf(rule)}, without a grant.`,
        fix: `Delete it (\`${deleteCommand(bin, "filter", rule)}\`) or add it again after the jump to ${chain}.`,
      });
    }
  }
  return findings;
}

async function checkSets(ctx: DoctorContext, chain: string, init: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const family of FAMILIES) {
    const set = ipsetName(chain, family);
    if ((await ctx.run("ipset", ["list", set, "-name"])).exitCode !== 0) {
      findings.push({
        severity: "problem",
        summary: `ipset ${set} is missing: ${familyName(family)} grants cannot be given.`,
        fix: `Run \`${init}\`.`,
      });
    }
  }
  return findings;
}

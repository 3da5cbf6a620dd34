import { grantsChainName } from "../firewall/iptables.js";
import { FAMILIES, xtablesBinary } from "../firewall/xtables.js";
import type { Family } from "../net/ip.js";
import type { Check, DoctorContext, Finding } from "./types.js";
import { familyName, listChain } from "./xtables-walk.js";

/** Where the kernel lists the iptables matches it has loaded (x_tables), per family. */
const MATCHES_FILE: Readonly<Record<Family, string>> = {
  4: "/proc/net/ip_tables_matches",
  6: "/proc/net/ip6_tables_matches",
};

const OTHER_BACKENDS = "or choose firewall.backend nftables or ipset (kernel timeouts)";

/**
 * The iptables backend gives every grant a kernel expiry with the time match (xt_time):
 * without it a grant stays open while webknock is down. Read-only: asks iptables whether
 * it has the extension, reads which matches the kernel has loaded, and names grant rules
 * that have no time match (written by an older webknock).
 */
export const iptablesTimeCheck: Check = {
  name: "firewall",
  async run(ctx) {
    if (ctx.config.firewall.backend !== "iptables") return [];
    const init = `webknock firewall init -c ${ctx.configPath}`;
    const findings: Finding[] = [];
    for (const family of FAMILIES) findings.push(...(await checkFamily(ctx, family, init)));
    return findings;
  },
};

async function checkFamily(ctx: DoctorContext, family: Family, init: string): Promise<Finding[]> {
  const bin = xtablesBinary(family);
  const name = familyName(family);
  const help = await ctx.run(bin, ["-m", "time", "--help"]);
  if (help.exitCode !== 0) {
    const said = (help.stderr.trim() || help.stdout.trim()).split("\n")[0] ?? "";
    return [
      {
        severity: "problem",
        summary: `${name}: ${bin} cannot load its time match (${said}), which gives each grant its expiry in the kernel; \`webknock firewall init\` and \`serve\` refuse to run without it.`,
        fix: `Install iptables' extensions (libxt_time.so, part of the iptables package), ${OTHER_BACKENDS}.`,
      },
    ];
  }
  const findings: Finding[] = [];
  const loaded = readMatches(ctx, MATCHES_FILE[family]);
  const rules =
    (await listChain(ctx.run, family, "filter", grantsChainName(ctx.config.firewall.chain))) ?? [];
  const grants = rules.filter((rule) => rule.text.includes('--comment "webknock exp='));
  const timed = grants.filter((rule) => rule.tokens.includes("--datestop"));
  // A timed grant in the kernel is proof enough that the match works.
  if (loaded !== undefined && !loaded.has("time") && timed.length === 0) {
    findings.push({
      severity: "warning",
      summary: `${name}: the kernel has not loaded the time match (xt_time is not in ${MATCHES_FILE[family]}); grants need it to close at their expiry while webknock is down.`,
      fix: `Run \`modprobe xt_time\` (some cloud kernels ship it in linux-modules-extra-$(uname -r)), then \`${init}\`, which tests it; ${OTHER_BACKENDS}.`,
    });
  }
  const untimed = grants.length - timed.length;
  if (untimed > 0) {
    findings.push({
      severity: "warning",
      summary: `${name}: ${untimed} grant rule${untimed === 1 ? " has" : "s have"} no kernel expiry (no time match; written by an older webknock): ${untimed === 1 ? "it stays" : "they stay"} open past ${untimed === 1 ? "its" : "their"} expiry if webknock is down then.`,
      fix: `Run \`${init}\` (\`serve\` does at start): it gives each one a time match with the same expiry.`,
    });
  }
  return findings;
}

/** The match names the kernel lists, or undefined when the file cannot be read. */
function readMatches(ctx: DoctorContext, path: string): Set<string> | undefined {
  try {
    return new Set(
      ctx
        .readFile(path)
        .toString("utf8")
        .split("\n")
        .map((line) => line.trim()),
    );
  } catch {
    return undefined;
  }
}

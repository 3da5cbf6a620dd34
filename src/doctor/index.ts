import { readFileSync, statSync } from "node:fs";
import type { Clock } from "../clock.js";
import type { GatewayConfig } from "../config/types.js";
import type { CommandRunner } from "../firewall/runner.js";
import { dockerCheck, untrackedCheck } from "./bypass.js";
import { clockCheck } from "./clock.js";
import { certificateCheck, fileModesCheck } from "./files.js";
import { nftFirewallCheck } from "./firewall-nft.js";
import { otherFirewallCheck } from "./firewall-other.js";
import { iptablesTimeCheck } from "./firewall-time.js";
import { xtablesFirewallCheck } from "./firewall-xtables.js";
import { redisCheck } from "./redis.js";
import { ioredisProbe } from "./redis-probe.js";
import type { Check, DoctorContext, Finding, Severity } from "./types.js";

/** Every check `webknock doctor` runs, in report order. */
export const ALL_CHECKS: readonly Check[] = [
  xtablesFirewallCheck,
  iptablesTimeCheck,
  nftFirewallCheck,
  otherFirewallCheck,
  untrackedCheck,
  dockerCheck,
  redisCheck,
  clockCheck,
  fileModesCheck,
  certificateCheck,
];

/** What one check reported. */
export interface CheckResult {
  readonly check: string;
  readonly findings: readonly Finding[];
}

/** Runs checks one after another (they share kernel tools and a lock); a check that throws is a problem. */
export async function runChecks(
  checks: readonly Check[],
  ctx: DoctorContext,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    let findings: Finding[];
    try {
      findings = await check.run(ctx);
    } catch (error) {
      findings = [
        {
          severity: "problem",
          summary: `The ${check.name} check failed: ${(error as Error).message}`,
          fix: "Run webknock doctor as root on the gateway's host; report a bug if it persists.",
        },
      ];
    }
    if (findings.length > 0) results.push({ check: check.name, findings });
  }
  return results;
}

/** How many findings of a severity the results hold. */
export const countOf = (results: readonly CheckResult[], severity: Severity): number =>
  results.reduce((n, r) => n + r.findings.filter((f) => f.severity === severity).length, 0);

const MARK: Readonly<Record<Severity, string>> = {
  problem: "FAIL",
  warning: "WARN",
  ok: "ok",
  info: "info",
};

/** The human report: one line per finding, its fix indented below. */
export function formatReport(results: readonly CheckResult[]): string {
  const lines: string[] = [];
  for (const { check, findings } of results) {
    for (const finding of findings) {
      lines.push(`${MARK[finding.severity].padEnd(4)} ${check}: ${finding.summary}`);
      if (finding.fix !== undefined && finding.severity !== "ok")
        lines.push(`     fix: ${finding.fix}`);
    }
  }
  const problems = countOf(results, "problem");
  const warnings = countOf(results, "warning");
  lines.push(
    problems + warnings === 0
      ? "webknock doctor: no problems found."
      : `webknock doctor: ${problems} problem${problems === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}.`,
  );
  return `${lines.join("\n")}\n`;
}

/** The real system's context: files, Redis over ioredis, and the given runner and clock. */
export function systemContext(
  config: GatewayConfig,
  raw: unknown,
  configPath: string,
  run: CommandRunner,
  now: Clock,
): DoctorContext {
  return {
    config,
    raw,
    configPath,
    run,
    now,
    stat: (path) => {
      try {
        const s = statSync(path);
        return { mode: s.mode & 0o7777, uid: s.uid };
      } catch {
        return undefined;
      }
    },
    readFile: (path) => readFileSync(path),
    connectRedis: ioredisProbe,
  };
}

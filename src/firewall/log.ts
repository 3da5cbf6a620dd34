import type { PortSpec } from "../config/types.js";
import type { FirewallAdapter, FirewallRule, RuleKey } from "./types.js";
import { ruleKey } from "./types.js";
import { assertRule, assertRuleKey } from "./validate.js";

/** Where the dry run reports the commands it would run. */
export type CommandLog = (argv: readonly string[]) => void;

/**
 * A dry run: validates exactly as the real backends do, logs the iptables commands
 * it would run, keeps its rules in memory (so list, refresh and expiry behave like
 * the real thing) and opens nothing.
 */
export class LogFirewall implements FirewallAdapter {
  readonly name = "log";
  readonly kernelExpiry = false;
  private readonly rules = new Map<string, FirewallRule>();

  constructor(
    private readonly log: CommandLog,
    private readonly chain = "WEBKNOCK",
  ) {}

  init(ports: readonly PortSpec[]): Promise<void> {
    this.log(["iptables", "-w", "-N", this.chain]);
    for (const { proto, port } of ports) {
      this.log([
        "iptables",
        "-w",
        "-A",
        this.chain,
        "-p",
        proto,
        "--dport",
        String(port),
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "DROP",
      ]);
    }
    return Promise.resolve();
  }

  open(rule: FirewallRule): Promise<void> {
    const safe = assertRule(rule);
    const previous = this.rules.get(ruleKey(safe));
    this.log([
      "iptables",
      "-w",
      "-I",
      this.chain,
      "1",
      ...this.match(safe),
      "-m",
      "comment",
      "--comment",
      `webknock exp=${Math.floor(safe.expiresAt / 1000)}`,
      "-j",
      "ACCEPT",
    ]);
    if (previous)
      this.log([
        "iptables",
        "-w",
        "-D",
        this.chain,
        ...this.match(previous),
        "-m",
        "comment",
        "--comment",
        `webknock exp=${Math.floor(previous.expiresAt / 1000)}`,
        "-j",
        "ACCEPT",
      ]);
    this.rules.set(ruleKey(safe), safe);
    return Promise.resolve();
  }

  close(rule: RuleKey): Promise<void> {
    const safe = assertRuleKey(rule);
    const existing = this.rules.get(ruleKey(safe));
    if (existing) {
      this.log([
        "iptables",
        "-w",
        "-D",
        this.chain,
        ...this.match(existing),
        "-m",
        "comment",
        "--comment",
        `webknock exp=${Math.floor(existing.expiresAt / 1000)}`,
        "-j",
        "ACCEPT",
      ]);
      this.rules.delete(ruleKey(safe));
    }
    return Promise.resolve();
  }

  list(): Promise<FirewallRule[]> {
    return Promise.resolve([...this.rules.values()]);
  }

  flush(): Promise<void> {
    this.log(["iptables", "-w", "-F", this.chain]);
    this.rules.clear();
    return Promise.resolve();
  }

  private match(rule: RuleKey): string[] {
    return [
      "-s",
      rule.ip,
      "-p",
      rule.proto,
      "--dport",
      String(rule.port),
      "-m",
      "conntrack",
      "--ctstate",
      "NEW",
    ];
  }
}

import type { PortSpec } from "../config/types.js";
import { familyOf } from "../net/ip.js";
import { grantsChainName } from "./iptables.js";
import { grantRuleSpec } from "./iptables-rule.js";
import type { FirewallAdapter, FirewallRule, RuleKey } from "./types.js";
import { ruleKey } from "./types.js";
import { assertRule, assertRuleKey, canonicalIp } from "./validate.js";
import { baseChainScript, FAMILIES, jumpArgs, xtablesBinary } from "./xtables.js";

/** Where the dry run reports the commands it would run. */
export type CommandLog = (argv: readonly string[]) => void;

/**
 * A dry run: validates exactly as the real backends do, logs the iptables commands the
 * iptables backend would run, keeps its rules in memory (so list, refresh and expiry
 * behave like the real thing) and opens nothing.
 */
export class LogFirewall implements FirewallAdapter {
  readonly name = "log";
  readonly kernelExpiry = false;
  readonly kernelRemovesExpired = false;
  private readonly rules = new Map<string, FirewallRule>();
  private readonly grants: string;

  constructor(
    private readonly log: CommandLog,
    private readonly chain = "WEBKNOCK",
  ) {
    this.grants = grantsChainName(chain);
  }

  init(ports: readonly PortSpec[]): Promise<void> {
    return settle(() => {
      const script = baseChainScript(this.chain, ports, () => ["-j", this.grants]);
      for (const family of FAMILIES) {
        const bin = xtablesBinary(family);
        this.log([bin, "-w", "-N", this.grants]);
        for (const line of script.split("\n").filter((l) => l.startsWith("-A "))) {
          this.log([bin, "-w", ...line.split(" ")]);
        }
        this.log([bin, ...jumpArgs("-I", this.chain)]);
      }
    });
  }

  open(rule: FirewallRule): Promise<void> {
    return settle(() => {
      const checked = assertRule(rule);
      const safe = { ...checked, ip: canonicalIp(checked.ip) };
      const previous = this.rules.get(ruleKey(safe));
      this.log([
        xtablesBinary(familyOf(safe.ip)),
        "-w",
        "-I",
        this.grants,
        "1",
        ...grantRuleSpec(safe),
      ]);
      if (previous) this.logDelete(previous);
      this.rules.set(ruleKey(safe), safe);
    });
  }

  close(rule: RuleKey): Promise<void> {
    return settle(() => {
      const checked = assertRuleKey(rule);
      const key = ruleKey({ ...checked, ip: canonicalIp(checked.ip) });
      const existing = this.rules.get(key);
      if (existing) this.logDelete(existing);
      this.rules.delete(key);
    });
  }

  list(): Promise<FirewallRule[]> {
    return Promise.resolve([...this.rules.values()]);
  }

  flush(): Promise<void> {
    for (const family of FAMILIES) this.log([xtablesBinary(family), "-w", "-F", this.grants]);
    this.rules.clear();
    return Promise.resolve();
  }

  uninstall(): Promise<void> {
    for (const family of FAMILIES) {
      const bin = xtablesBinary(family);
      this.log([bin, ...jumpArgs("-D", this.chain)]);
      for (const chain of [this.chain, this.grants]) this.log([bin, "-w", "-F", chain]);
      for (const chain of [this.chain, this.grants]) this.log([bin, "-w", "-X", chain]);
    }
    this.rules.clear();
    return Promise.resolve();
  }

  private logDelete(rule: FirewallRule): void {
    this.log([xtablesBinary(familyOf(rule.ip)), "-w", "-D", this.grants, ...grantRuleSpec(rule)]);
  }
}

/** Runs synchronous work as a promise, so a validation failure rejects instead of throwing. */
function settle(work: () => void): Promise<void> {
  try {
    work();
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

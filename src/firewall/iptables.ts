import type { PortSpec } from "../config/types.js";
import { FirewallError } from "../errors.js";
import { familyOf, type Family } from "../net/ip.js";
import { RunnerAdapter, type RunnerAdapterOptions } from "./base.js";
import {
  grantRuleSpec,
  parseGrantEntries,
  TIME_PROBE_SPEC,
  type GrantEntry,
} from "./iptables-rule.js";
import { runChecked } from "./runner.js";
import type { FirewallAdapter, FirewallRule, RuleKey } from "./types.js";
import { ruleKey } from "./types.js";
import { assertKernelName, assertRule, assertRuleKey, canonicalIp } from "./validate.js";
import {
  baseChainScript,
  chainExists,
  chainRules,
  ensureChain,
  FAMILIES,
  installBaseChain,
  removeChains,
  xtablesBinary,
} from "./xtables.js";

/** Name of the sub-chain holding the grants, derived from the main chain. */
export const grantsChainName = (chain: string): string => `${assertKernelName(chain)}-GRANTS`;

/** Options of the iptables backend. */
export interface IptablesOptions extends RunnerAdapterOptions {
  /** webknock's chain; grants live in `<chain>-GRANTS`. */
  readonly chain?: string;
}

/**
 * One iptables/ip6tables rule per grant in webknock's grants chain. Each carries its
 * expiry in the kernel's time match (xt_time), so it stops admitting new connections at
 * its expiry even when the gateway or agent is dead (`kernelExpiry` true). The kernel does
 * not delete the inert rule (`kernelRemovesExpired` false): the sweeper does, from
 * `list()`, which reads each expiry back from the rule's comment.
 */
export class IptablesFirewall extends RunnerAdapter implements FirewallAdapter {
  readonly name = "iptables";
  readonly kernelExpiry = true;
  readonly kernelRemovesExpired = false;
  private readonly chain: string;
  private readonly grants: string;

  constructor(options: IptablesOptions) {
    super(options);
    this.chain = assertKernelName(options.chain ?? "WEBKNOCK");
    this.grants = grantsChainName(this.chain);
  }

  /**
   * Builds the base ruleset first (the ports drop new connections whatever follows), then
   * checks that the time match works, and gives a kernel expiry to any grant written
   * before grants had one.
   */
  init(ports: readonly PortSpec[]): Promise<void> {
    return this.serial(async () => {
      const script = baseChainScript(this.chain, ports, () => ["-j", this.grants]);
      for (const family of FAMILIES) {
        // The grants chain must exist before the restore references it; it keeps its rules.
        await ensureChain(this.run, family, this.grants);
        await installBaseChain(this.run, family, this.chain, script);
      }
      for (const family of FAMILIES) {
        await this.probeTimeMatch(family);
        for (const entry of await this.entries(family)) {
          if (entry.datestop === null) await this.replace(family, entry.rule, [entry]);
        }
      }
    });
  }

  open(rule: FirewallRule): Promise<void> {
    return this.serial(async () => {
      const safe = assertRule(rule);
      const family = familyOf(safe.ip);
      await this.replace(family, safe, await this.find(family, safe));
    });
  }

  close(rule: RuleKey): Promise<void> {
    return this.serial(async () => {
      const safe = assertRuleKey(rule);
      const family = familyOf(safe.ip);
      for (const previous of await this.find(family, safe)) await this.remove(family, previous);
    });
  }

  list(): Promise<FirewallRule[]> {
    return this.serial(async () => {
      const rules: FirewallRule[] = [];
      for (const family of FAMILIES) {
        rules.push(...(await this.entries(family)).map((entry) => entry.rule));
      }
      return rules;
    });
  }

  flush(): Promise<void> {
    return this.serial(async () => {
      for (const family of FAMILIES) {
        if (await chainExists(this.run, family, this.grants)) {
          await runChecked(this.run, xtablesBinary(family), ["-w", "-F", this.grants]);
        }
      }
    });
  }

  uninstall(): Promise<void> {
    return this.serial(async () => {
      for (const family of FAMILIES) {
        await removeChains(this.run, family, [this.chain, this.grants]);
      }
    });
  }

  /**
   * Inserts `rule` first in the grants chain, then deletes `old`: the port never closes in
   * between, and one rule per grant is left.
   */
  private async replace(family: Family, rule: FirewallRule, old: readonly GrantEntry[]) {
    const argv = ["-w", "-I", this.grants, "1", ...grantRuleSpec(rule)];
    await runChecked(this.run, xtablesBinary(family), argv);
    for (const previous of old) await this.remove(family, previous);
  }

  /** Deletes one rule by its exact spec, as it was read back. */
  private async remove(family: Family, entry: GrantEntry): Promise<void> {
    const spec = grantRuleSpec(entry.rule, entry.datestop);
    await runChecked(this.run, xtablesBinary(family), ["-w", "-D", this.grants, ...spec]);
  }

  /**
   * Appends and deletes a rule that can never match, to learn whether iptables and the
   * kernel know the time match; without it a grant would have no kernel expiry, so this
   * refuses to go on and says what is missing.
   */
  private async probeTimeMatch(family: Family): Promise<void> {
    const bin = xtablesBinary(family);
    const added = await this.run(bin, ["-w", "-A", this.grants, ...TIME_PROBE_SPEC]);
    if (added.exitCode !== 0) {
      throw new FirewallError(
        `The iptables backend needs the time match (-m time, kernel module xt_time) so a grant stops admitting at its expiry even when webknock is not running, and ${bin} refused it: ${added.stderr.trim() || added.stdout.trim()}. Load the module with \`modprobe xt_time\` (it ships with the kernel; some cloud kernels keep it in linux-modules-extra-$(uname -r)) and make sure iptables' extension libxt_time.so is installed, or choose firewall.backend nftables or ipset (kernel timeouts); then run \`webknock firewall init\` again.`,
      );
    }
    await runChecked(this.run, bin, ["-w", "-D", this.grants, ...TIME_PROBE_SPEC]);
  }

  private async entries(family: Family): Promise<GrantEntry[]> {
    return parseGrantEntries(this.grants, await chainRules(this.run, family, this.grants));
  }

  /** Every grant for the same ip, proto and port (normally at most one). */
  private async find(family: Family, key: RuleKey): Promise<GrantEntry[]> {
    const wanted = ruleKey({ ...key, ip: canonicalIp(key.ip) });
    return (await this.entries(family)).filter((entry) => ruleKey(entry.rule) === wanted);
  }
}

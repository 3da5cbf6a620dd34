import type { PortSpec } from "../config/types.js";
import { familyOf, type Family } from "../net/ip.js";
import { RunnerAdapter, type RunnerAdapterOptions } from "./base.js";
import { runChecked } from "./runner.js";
import type { FirewallAdapter, FirewallRule, RuleKey } from "./types.js";
import { ruleKey } from "./types.js";
import {
  assertKernelName,
  assertRule,
  assertRuleKey,
  canonicalIp,
  readBackRule,
} from "./validate.js";
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

/** The comment that tags a grant as webknock's and carries its expiry in epoch seconds. */
const COMMENT_PREFIX = "webknock exp=";

/** Name of the sub-chain holding the grants, derived from the main chain. */
export const grantsChainName = (chain: string): string => `${assertKernelName(chain)}-GRANTS`;

/**
 * The match-and-target part of a grant rule, the same for `-I` and `-D` (iptables deletes
 * by exact spec, comment included). Pure: property tests feed it hostile values.
 */
export function grantRuleSpec(rule: FirewallRule): string[] {
  const safe = assertRule(rule);
  return [
    "-s",
    safe.ip,
    "-p",
    safe.proto,
    "--dport",
    String(safe.port),
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-m",
    "comment",
    "--comment",
    `${COMMENT_PREFIX}${Math.floor(safe.expiresAt / 1000)}`,
    "-j",
    "ACCEPT",
  ];
}

/** A grant line exactly as `iptables -S` prints it; anything else is not webknock's grant. */
const GRANT_LINE =
  /^-A (\S+) -s (\S+)\/(32|128) -p (tcp|udp) -m (?:tcp|udp) --dport (\d{1,5}) -m conntrack --ctstate NEW -m comment --comment "webknock exp=(\d{1,12})" -j ACCEPT$/;

/** Parses `iptables -S` lines of the grants chain into rules; ignores untagged lines. */
export function parseGrantLines(chain: string, lines: readonly string[]): FirewallRule[] {
  const rules: FirewallRule[] = [];
  for (const line of lines) {
    const m = GRANT_LINE.exec(line.trim());
    if (!m || m[1] !== chain) continue;
    const [, , ip = "", , proto = "", port = "", exp = ""] = m;
    const rule = readBackRule({ ip, proto, port, expiresAt: Number(exp) * 1000 });
    if (rule) rules.push(rule);
  }
  return rules;
}

/** Options of the iptables backend. */
export interface IptablesOptions extends RunnerAdapterOptions {
  /** webknock's chain; grants live in `<chain>-GRANTS`. */
  readonly chain?: string;
}

/**
 * One iptables/ip6tables rule per grant in webknock's grants chain, tagged with its expiry.
 * The kernel never expires them (`kernelExpiry` false): the gateway's sweeper closes
 * them, and `list()` reads expiries back so a restarted gateway can reconcile.
 */
export class IptablesFirewall extends RunnerAdapter implements FirewallAdapter {
  readonly name = "iptables";
  readonly kernelExpiry = false;
  private readonly chain: string;
  private readonly grants: string;

  constructor(options: IptablesOptions) {
    super(options);
    this.chain = assertKernelName(options.chain ?? "WEBKNOCK");
    this.grants = grantsChainName(this.chain);
  }

  init(ports: readonly PortSpec[]): Promise<void> {
    return this.serial(async () => {
      const script = baseChainScript(this.chain, ports, () => ["-j", this.grants]);
      for (const family of FAMILIES) {
        // The grants chain must exist before the restore references it; it keeps its rules.
        await ensureChain(this.run, family, this.grants);
        await installBaseChain(this.run, family, this.chain, script);
      }
    });
  }

  open(rule: FirewallRule): Promise<void> {
    return this.serial(async () => {
      const safe = assertRule(rule);
      const family = familyOf(safe.ip);
      const bin = xtablesBinary(family);
      const old = await this.find(family, safe);
      // Insert the new rule before deleting the old, so the port never closes in between.
      await runChecked(this.run, bin, ["-w", "-I", this.grants, "1", ...grantRuleSpec(safe)]);
      for (const previous of old) {
        await runChecked(this.run, bin, ["-w", "-D", this.grants, ...grantRuleSpec(previous)]);
      }
    });
  }

  close(rule: RuleKey): Promise<void> {
    return this.serial(async () => {
      const safe = assertRuleKey(rule);
      const family = familyOf(safe.ip);
      for (const previous of await this.find(family, safe)) {
        await runChecked(this.run, xtablesBinary(family), [
          "-w",
          "-D",
          this.grants,
          ...grantRuleSpec(previous),
        ]);
      }
    });
  }

  list(): Promise<FirewallRule[]> {
    return this.serial(async () => {
      const rules: FirewallRule[] = [];
      for (const family of FAMILIES) rules.push(...(await this.listFamily(family)));
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

  private async listFamily(family: Family): Promise<FirewallRule[]> {
    return parseGrantLines(this.grants, await chainRules(this.run, family, this.grants));
  }

  /** Every grant for the same ip, proto and port (normally at most one). */
  private async find(family: Family, key: RuleKey): Promise<FirewallRule[]> {
    const wanted = ruleKey({ ...key, ip: canonicalIp(key.ip) });
    return (await this.listFamily(family)).filter((r) => ruleKey(r) === wanted);
  }
}

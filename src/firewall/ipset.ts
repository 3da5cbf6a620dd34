import type { PortSpec } from "../config/types.js";
import { familyOf, type Family } from "../net/ip.js";
import { IPSET_DIALECT } from "./session.js";
import { RunnerAdapter, type RunnerAdapterOptions } from "./base.js";
import { runChecked } from "./runner.js";
import { timedOpens, type TimedRule } from "./batch.js";
import type { FirewallAdapter, FirewallRule, RuleBatch, RuleKey } from "./types.js";
import { UnsafeValueError } from "../errors.js";
import {
  assertKernelName,
  assertRule,
  assertRuleKey,
  assertSeconds,
  readBackRule,
  secondsLeft,
} from "./validate.js";
import { baseChainScript, FAMILIES, installBaseChain, removeChains } from "./xtables.js";

/** The kernel's ceiling for an ipset timeout (UINT_MAX / 2 ms, in seconds). */
export const IPSET_MAX_TIMEOUT = 2_147_483;

/** The set for a family: `<chain>4` holds IPv4 grants, `<chain>6` IPv6 ones. */
export const ipsetName = (chain: string, family: Family): string =>
  `${assertKernelName(chain)}${family}`;

/** `IP,proto:port`, the hash:ip,port entry syntax (an IPv6 address has no comma to clash). */
export const ipsetEntry = (key: RuleKey): string => {
  const safe = assertRuleKey(key);
  return `${safe.ip},${safe.proto}:${safe.port}`;
};

/** argv of `ipset create`; `-exist` makes it a no-op if the same set exists. */
export function ipsetCreateArgs(set: string, family: Family): string[] {
  return [
    "create",
    assertKernelName(set),
    "hash:ip,port",
    "family",
    family === 4 ? "inet" : "inet6",
    "timeout",
    "0",
    "-exist",
  ];
}

/** argv of the add that grants or refreshes: `-exist` resets the timeout of an existing entry. */
export function ipsetAddArgs(set: string, rule: RuleKey, seconds: number): string[] {
  const entry = ipsetEntry(rule);
  const timeout = assertSeconds(seconds);
  if (timeout > IPSET_MAX_TIMEOUT) {
    throw new UnsafeValueError(
      `ipset timeout (the kernel stops at ${IPSET_MAX_TIMEOUT} s, about 24 days; shorten the door's openFor)`,
      timeout,
    );
  }
  return ["add", assertKernelName(set), entry, "timeout", String(timeout), "-exist"];
}

/** argv of the delete; `-exist` makes deleting a missing entry succeed. */
export const ipsetDelArgs = (set: string, rule: RuleKey): string[] => [
  "del",
  assertKernelName(set),
  ipsetEntry(rule),
  "-exist",
];

/**
 * The input of `ipset -exist restore` for a batch: a `del` per close, then an `add` per
 * open (with `-exist`, add resets an existing entry's timeout and del of a missing one
 * succeeds). Each line is built from the same validated argv as the single commands.
 * `opens` holds one entry per key.
 */
export function ipsetRestoreInput(
  chain: string,
  opens: readonly TimedRule[],
  closes: readonly RuleKey[],
): string {
  const setOf = (key: RuleKey) => ipsetName(chain, familyOf(assertRuleKey(key).ip));
  const line = (argv: readonly string[]) => argv.filter((arg) => arg !== "-exist").join(" ");
  return [
    ...closes.map((key) => line(ipsetDelArgs(setOf(key), key))),
    ...opens.map(({ rule, seconds }) => line(ipsetAddArgs(setOf(rule), rule, seconds))),
    "",
  ].join("\n");
}

const ENTRY_LINE = /^add (\S+) (\S+),(tcp|udp):(\d{1,5}) timeout (\d{1,10})$/;

/** Parses `ipset list SET -output save`; the remaining timeout becomes an absolute expiry. */
export function parseIpsetSave(set: string, text: string, now: number): FirewallRule[] {
  const rules: FirewallRule[] = [];
  for (const line of text.split("\n")) {
    const m = ENTRY_LINE.exec(line.trim());
    if (!m || m[1] !== set) continue;
    const [, , ip = "", proto = "", port = "", timeout = ""] = m;
    if (Number(timeout) === 0) continue; // permanent: someone else's entry, not a grant
    const rule = readBackRule({ ip, proto, port, expiresAt: now + Number(timeout) * 1000 });
    if (rule) rules.push(rule);
  }
  return rules;
}

/** Options of the ipset backend. */
export interface IpsetOptions extends RunnerAdapterOptions {
  /** webknock's iptables chain, also the prefix of its two sets. */
  readonly chain?: string;
}

/**
 * Grants are entries with a timeout in two `hash:ip,port` sets, matched from webknock's
 * chain. The kernel deletes an entry when its timeout runs out, so a grant closes on time
 * even if the gateway is dead (`kernelExpiry` true).
 */
export class IpsetFirewall extends RunnerAdapter implements FirewallAdapter {
  readonly name = "ipset";
  readonly kernelExpiry = true;
  readonly kernelRemovesExpired = true;
  private readonly chain: string;

  constructor(options: IpsetOptions) {
    super(options);
    this.chain = assertKernelName(options.chain ?? "WEBKNOCK");
  }

  init(ports: readonly PortSpec[]): Promise<void> {
    return this.serial(async () => {
      for (const family of FAMILIES) {
        const set = ipsetName(this.chain, family);
        await runChecked(this.run, "ipset", ipsetCreateArgs(set, family));
        const script = baseChainScript(this.chain, ports, () => [
          "-m",
          "set",
          "--match-set",
          set,
          "src,dst",
          "-j",
          "ACCEPT",
        ]);
        await installBaseChain(this.run, family, this.chain, script);
      }
      this.startSession(IPSET_DIALECT);
    });
  }

  open(rule: FirewallRule): Promise<void> {
    return this.serial(async () => {
      const safe = assertRule(rule);
      const set = ipsetName(this.chain, familyOf(safe.ip));
      const seconds = secondsLeft(safe.expiresAt, this.now());
      await this.ipsetOne(ipsetAddArgs(set, safe, seconds));
    });
  }

  close(rule: RuleKey): Promise<void> {
    return this.serial(async () => {
      const safe = assertRuleKey(rule);
      const set = ipsetName(this.chain, familyOf(safe.ip));
      await this.ipsetOne(ipsetDelArgs(set, safe));
    });
  }

  applyBatch(batch: RuleBatch): Promise<void> {
    return this.serial(async () => {
      const opens = timedOpens(batch, this.now());
      if (opens === undefined) return;
      const input = ipsetRestoreInput(this.chain, opens, batch.close);
      await runChecked(this.run, "ipset", ["-exist", "restore"], { input });
    });
  }

  list(): Promise<FirewallRule[]> {
    return this.serial(async () => {
      const rules: FirewallRule[] = [];
      for (const family of FAMILIES) {
        const set = ipsetName(this.chain, family);
        const out = await runChecked(this.run, "ipset", ["list", set, "-output", "save"]);
        rules.push(...parseIpsetSave(set, out, this.now()));
      }
      return rules;
    });
  }

  flush(): Promise<void> {
    return this.serial(async () => {
      for (const family of FAMILIES) {
        const set = ipsetName(this.chain, family);
        if (await this.setExists(set)) await runChecked(this.run, "ipset", ["flush", set]);
      }
    });
  }

  uninstall(): Promise<void> {
    return this.serial(async () => {
      for (const family of FAMILIES) {
        // The rules referencing a set must go before the set can be destroyed.
        await removeChains(this.run, family, [this.chain]);
        const set = ipsetName(this.chain, family);
        if (await this.setExists(set)) await runChecked(this.run, "ipset", ["destroy", set]);
      }
    });
  }

  /** One add or del: a line of the session (its tokens are validated, none has a space), or a process. */
  private ipsetOne(args: readonly string[]): Promise<void> {
    return this.inSession(IPSET_DIALECT, args.join(" "), () => runChecked(this.run, "ipset", args));
  }

  private async setExists(set: string): Promise<boolean> {
    return (await this.run("ipset", ["list", assertKernelName(set), "-name"])).exitCode === 0;
  }
}

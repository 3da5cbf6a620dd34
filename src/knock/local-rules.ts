import type { FirewallAdapter, FirewallRule } from "../firewall/types.js";
import type { Clock } from "../clock.js";
import { includesLocal } from "../fleet/keys.js";
import type { Logger } from "../log.js";
import type { GrantRecord, KnockStore } from "../store/types.js";
import { keyOf, localRulesOf, neededUntil } from "./grant-rules.js";

/** Runs a task in the queue of an IP (GrantManager's: firewall changes never interleave). */
export type SerialPerIp = <T>(ip: string, task: () => Promise<T>) => Promise<T>;

/**
 * The kernel's side of grants on this host. One rule per (IP, port) serves every grant of
 * that IP that opens the port (one per door): it carries the latest of their expiries,
 * and a grant that goes keeps the rule while another live grant still needs it. The store
 * says which grants those are, so this holds across restarts and gateways. It also keeps
 * the latest expiry this process wrote per rule, so a sweep never closes a rule a re-knock
 * refreshed after the listing or the store's record it works from was read.
 */
export class LocalRules {
  /** Latest expiry this process wrote per rule (`ip proto/port`), whichever door it was for. */
  private readonly latestRule = new Map<string, number>();

  constructor(
    private readonly store: KnockStore,
    private readonly firewall: FirewallAdapter,
    private readonly now: Clock,
    private readonly log: Logger,
    /** Every door's name, read on each call (a reload may change them). */
    private readonly doorNames: () => readonly string[],
    private readonly serial: SerialPerIp,
  ) {}

  /**
   * Opens (or refreshes) a new grant's rules on this host, never shortening one that
   * another door's longer grant holds open. Runs inside the IP's queue.
   */
  async apply(grant: GrantRecord): Promise<void> {
    const others = await this.othersOf(grant);
    for (const rule of localRulesOf(grant)) {
      const expiresAt = Math.max(rule.expiresAt, neededUntil(others, rule) ?? 0);
      await this.firewall.open({ ...rule, expiresAt });
      this.latestRule.set(keyOf(rule), expiresAt);
    }
  }

  /**
   * Closes the local rules of a grant that is gone from the store, except those another
   * live grant of the IP still needs: those stay, with the latest expiry among the grants
   * that need them (shortened if the gone grant held the latest). A sweep (`sweeping`)
   * also leaves a rule this process refreshed since. Runs inside the IP's queue.
   */
  async release(grant: GrantRecord, sweeping: boolean): Promise<void> {
    const others = await this.othersOf(grant);
    for (const rule of localRulesOf(grant)) {
      const needed = neededUntil(others, rule);
      if (needed === undefined) {
        if (sweeping) await this.closeUnlessRefreshed(rule);
        else {
          await this.firewall.close(rule);
          this.latestRule.delete(keyOf(rule));
        }
      } else if (needed < rule.expiresAt) {
        // The kernel holds this grant's later expiry: bring it back to what is still needed.
        await this.firewall.open({ ...rule, expiresAt: needed });
        this.latestRule.set(keyOf(rule), needed);
      }
    }
  }

  /**
   * Closes every rule the firewall lists past its own expiry; counts the live ones. The
   * listing is the kernel's (or the state file's) word, so this needs no store record.
   */
  async sweepListed(): Promise<{ closed: number; adopted: number }> {
    const rules = await this.firewall.list();
    let closed = 0;
    for (const rule of rules) {
      if (rule.expiresAt > this.now()) continue;
      const done = await this.serial(rule.ip, () => this.closeUnlessRefreshed(rule));
      if (!done) continue;
      closed++;
      this.log.info(
        { event: "expire", ip: rule.ip, port: `${rule.proto}/${rule.port}`, source: "listing" },
        "rule past its listed expiry closed",
      );
    }
    return { closed, adopted: rules.length - closed };
  }

  /** The live grants of the same IP on other doors that open ports on this host. */
  private async othersOf(grant: GrantRecord): Promise<GrantRecord[]> {
    const doors = this.doorNames().filter((name) => name !== grant.door);
    if (doors.length === 0 || localRulesOf(grant).length === 0) return [];
    const now = this.now();
    return (await this.store.grantsOf(grant.ip, doors)).filter(
      (other) => other.expiresAt > now && includesLocal(other.hosts),
    );
  }

  /**
   * Closes `rule` unless this process wrote it with a later, still future expiry since (a
   * re-knock after the listing was read, or another door's grant on the same port): the
   * kernel then holds that later expiry. Runs inside the IP's queue. True if closed.
   */
  private async closeUnlessRefreshed(rule: FirewallRule): Promise<boolean> {
    const key = keyOf(rule);
    if ((this.latestRule.get(key) ?? 0) > this.now()) return false;
    this.latestRule.delete(key);
    await this.firewall.close(rule);
    return true;
  }
}

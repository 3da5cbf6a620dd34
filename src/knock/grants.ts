import type { DoorConfig } from "../config/types.js";
import { UnsafeValueError } from "../errors.js";
import type { FirewallAdapter, FirewallRule } from "../firewall/types.js";
import { ruleKey } from "../firewall/types.js";
import { assertRule } from "../firewall/validate.js";
import { canonicalIp } from "../net/ip.js";
import { grantId, type GrantRecord, type KnockStore } from "../store/types.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { GrantEventSink, HostState } from "../fleet/publisher.js";
import { includesLocal, LOCAL_HOST, remoteHosts } from "../fleet/keys.js";

/**
 * Opens, refreshes, revokes and expires grants, keeping the store's record and the
 * kernel's rules in step. Firewall calls for one IP are serialised, so a sweep can never
 * close a rule a concurrent re-knock just refreshed.
 *
 * Two sources of truth for expiry, checked on every sweep: the store's grant records, and
 * the firewall's own listing (the iptables `exp=` comment, the command backend's state
 * file). The second is what makes a restart safe: a gateway whose store was in memory (or
 * lost) adopts the live rules it finds at start-up and closes each at its own expiry.
 */
export class GrantManager {
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Latest expiry this process opened per door and IP; a sweep of an older grant skips it. */
  private readonly latestExpiry = new Map<string, number>();
  /** Latest expiry this process wrote per rule (`ip proto/port`), whichever door it was for. */
  private readonly latestRule = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Called on every revoke (src/tunnel closes the IP's tunnels through the door). */
  private readonly revokeListeners: ((door: string, ip: string) => void)[] = [];
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly store: KnockStore,
    private readonly firewall: FirewallAdapter,
    private readonly now: Clock,
    private readonly log: Logger,
    /** Where grants for other hosts go (src/fleet); absent when no door names one. */
    private readonly sink?: GrantEventSink,
  ) {}

  /** Opens the door's ports for `ip` (or refreshes their expiry) and records the grant. */
  async open(door: DoorConfig, ip: string, user: string): Promise<GrantRecord> {
    const grantedAt = this.now();
    const grant: GrantRecord = {
      door: door.name,
      ip,
      user,
      ports: door.open,
      grantedAt,
      expiresAt: grantedAt + door.openForMs,
      ...(door.hosts === undefined ? {} : { hosts: door.hosts }),
    };
    // Never record a grant the firewall would refuse, nor one under a second spelling of
    // an address: every entry point hands over net/ip.ts's canonical form.
    if (canonicalIp(ip) !== ip) throw new UnsafeValueError("IP address in canonical form", ip);
    for (const rule of rulesOf(grant)) assertRule(rule);
    await this.serial(ip, async () => {
      // Record first: if the store fails nothing opens; if the firewall fails the record
      // only makes the sweeper close a rule that is not there (idempotent).
      await this.store.putGrant(grant);
      await this.announce("opened", grant);
      for (const rule of localRulesOf(grant)) {
        await this.firewall.open(rule);
        this.latestRule.set(keyOf(rule), rule.expiresAt);
      }
      this.latestExpiry.set(grantId(door.name, ip), grant.expiresAt);
    });
    return grant;
  }

  /**
   * Each host's state for a grant: the gateway's own is open once `open` returned; agents'
   * hosts are asked for at most `timeoutMs`. A store error leaves them `pending` (the grant
   * itself stands).
   */
  async hostStates(grant: GrantRecord, timeoutMs: number): Promise<Record<string, HostState>> {
    const states: Record<string, HostState> = {};
    if (includesLocal(grant.hosts)) states[LOCAL_HOST] = "open";
    const remote = remoteHosts(grant.hosts);
    if (remote.length === 0 || this.sink === undefined) return states;
    const answers = await this.sink
      .awaitConfirmations(grant, remote, timeoutMs)
      .catch((error: unknown) => {
        this.log.error({ err: error }, "cannot read the hosts' confirmations");
        return Object.fromEntries(remote.map((host) => [host, "pending" as const]));
      });
    return { ...states, ...answers };
  }

  /**
   * Calls `listener(door, ip)` on every revoke, whether or not a record was left: a tunnel
   * opened in time outlives its grant's record, and a revoke must close it still.
   * Synchronous and must not throw.
   */
  onRevoke(listener: (door: string, ip: string) => void): void {
    this.revokeListeners.push(listener);
  }

  /** Closes a grant at once (admin revoke). Returns the removed record, if any. */
  async revoke(doorName: string, ip: string): Promise<GrantRecord | undefined> {
    for (const listener of this.revokeListeners) listener(doorName, canonical(ip));
    return this.serial(ip, async () => {
      const grant = await this.store.removeGrant(doorName, ip);
      if (grant) {
        for (const rule of localRulesOf(grant)) {
          await this.firewall.close(rule);
          this.latestRule.delete(keyOf(rule));
        }
        await this.announce("revoked", grant);
        this.log.info(
          { event: "revoke", door: grant.door, ip: grant.ip, user: grant.user },
          "grant revoked",
        );
      }
      this.latestExpiry.delete(grantId(doorName, ip));
      return grant;
    });
  }

  /**
   * Closes every grant whose expiry has passed per the store, then every rule the firewall
   * lists past its own expiry whether or not the store knows it. Returns how many grants
   * and unrecorded rules it closed.
   */
  async sweep(): Promise<number> {
    const grants = await this.sweepStore();
    if (this.firewall.kernelExpiry) return grants;
    return grants + (await this.sweepListed()).closed;
  }

  /**
   * Brings the kernel in line with time at start-up: closes every listed rule whose own
   * expiry has passed, and adopts the live ones (the sweeper closes each at its expiry,
   * from the listing), so a restart never leaves a port open past its expiry, even when
   * the store was in memory and is gone.
   */
  async reconcile(): Promise<{ closed: number; adopted: number }> {
    const result = await this.sweepListed();
    // The kernel part above needs no store; a store outage must not stop it.
    await this.sweepStore().catch((error: unknown) => {
      this.log.error({ err: error }, "sweep at reconcile failed; the sweeper retries");
    });
    return result;
  }

  /** Reconciles, then sweeps every `intervalMs` until stop(). */
  async start(intervalMs: number): Promise<void> {
    const result = await this.reconcile();
    this.log.info(
      { event: "reconcile", ...result },
      "firewall reconciled: overdue rules closed, live ones adopted until their own expiry",
    );
    this.timer = setInterval(() => {
      // One sweep at a time; a slow firewall must not pile sweeps up.
      this.sweeping ??= this.sweep()
        .then(() => undefined)
        .catch((error: unknown) => {
          this.log.error({ err: error }, "sweep failed; will retry");
        })
        .finally(() => (this.sweeping = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the sweeper and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  /** Hands a grant for other hosts to the sink; a door naming them needs one (Redis). */
  private async announce(what: "opened" | "revoked", grant: GrantRecord): Promise<void> {
    const hosts = remoteHosts(grant.hosts);
    if (hosts.length === 0) return;
    if (this.sink === undefined) {
      throw new Error(`door ${grant.door} names hosts ${hosts.join(", ")} but no fleet is set up`);
    }
    await this.sink[what](grant, hosts);
  }

  /** Closes the rules of every grant the store reports expired. */
  private async sweepStore(): Promise<number> {
    const expired = await this.store.takeExpiredGrants(this.now());
    for (const grant of expired) {
      await this.serial(grant.ip, async () => {
        const key = grantId(grant.door, grant.ip);
        // A re-knock that ran while this grant waited its turn refreshed it: keep it open.
        if ((this.latestExpiry.get(key) ?? 0) > grant.expiresAt) return;
        this.latestExpiry.delete(key);
        // Remote hosts close by themselves (kernel expiry or their agent's sweeper).
        for (const rule of localRulesOf(grant)) await this.closeUnlessRefreshed(rule);
      });
      this.log.info(
        { event: "expire", door: grant.door, ip: grant.ip, user: grant.user },
        "grant expired",
      );
    }
    return expired.length;
  }

  /**
   * Closes every rule the firewall lists past its own expiry; counts the live ones. The
   * listing is the kernel's (or the state file's) word, so this needs no store record.
   */
  private async sweepListed(): Promise<{ closed: number; adopted: number }> {
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

  private serial<T>(ip: string, task: () => Promise<T>): Promise<T> {
    const key = canonical(ip);
    const previous = this.queues.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }
}

/** The address as the firewall lists it, so a listed rule and a grant's rule share a key. */
const canonical = (ip: string): string => canonicalIp(ip) ?? ip;

const keyOf = (rule: FirewallRule): string => ruleKey({ ...rule, ip: canonical(rule.ip) });

/** The rules this gateway's own firewall holds for a grant: none unless `local` is among its hosts. */
const localRulesOf = (grant: GrantRecord): FirewallRule[] =>
  includesLocal(grant.hosts) ? rulesOf(grant) : [];

/** One firewall rule per port of a grant. */
export function rulesOf(grant: GrantRecord): FirewallRule[] {
  return grant.ports.map(({ proto, port }) => ({
    ip: grant.ip,
    proto,
    port,
    expiresAt: grant.expiresAt,
  }));
}

import type { DoorConfig } from "../config/types.js";
import { UnsafeValueError } from "../errors.js";
import type { FirewallAdapter, FirewallRule } from "../firewall/types.js";
import { assertRule } from "../firewall/validate.js";
import { canonicalIp } from "../net/ip.js";
import { grantId, type GrantRecord, type KnockStore } from "../store/types.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";

/**
 * Opens, refreshes, revokes and expires grants, keeping the store's record and the
 * kernel's rules in step. Firewall calls for one door and IP are serialised, so a
 * sweep can never close a rule a concurrent re-knock just refreshed.
 */
export class GrantManager {
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Latest expiry this process opened per door and IP; a sweep of an older grant skips it. */
  private readonly latestExpiry = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly store: KnockStore,
    private readonly firewall: FirewallAdapter,
    private readonly now: Clock,
    private readonly log: Logger,
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
    };
    // Never record a grant the firewall would refuse, nor one under a second spelling of
    // an address: every entry point hands over net/ip.ts's canonical form.
    if (canonicalIp(ip) !== ip) throw new UnsafeValueError("IP address in canonical form", ip);
    for (const rule of rulesOf(grant)) assertRule(rule);
    await this.serial(door.name, ip, async () => {
      // Record first: if the store fails nothing opens; if the firewall fails the record
      // only makes the sweeper close a rule that is not there (idempotent).
      await this.store.putGrant(grant);
      for (const rule of rulesOf(grant)) await this.firewall.open(rule);
      this.latestExpiry.set(grantId(door.name, ip), grant.expiresAt);
    });
    return grant;
  }

  /** Closes a grant at once (admin revoke). Returns the removed record, if any. */
  async revoke(doorName: string, ip: string): Promise<GrantRecord | undefined> {
    return this.serial(doorName, ip, async () => {
      const grant = await this.store.removeGrant(doorName, ip);
      if (grant) {
        for (const rule of rulesOf(grant)) await this.firewall.close(rule);
        this.log.info(
          { event: "revoke", door: grant.door, ip: grant.ip, user: grant.user },
          "grant revoked",
        );
      }
      this.latestExpiry.delete(grantId(doorName, ip));
      return grant;
    });
  }

  /** Closes every grant whose expiry has passed, per the store. Returns how many. */
  async sweep(): Promise<number> {
    const expired = await this.store.takeExpiredGrants(this.now());
    for (const grant of expired) {
      await this.serial(grant.door, grant.ip, async () => {
        const key = grantId(grant.door, grant.ip);
        // A re-knock that ran while this grant waited its turn refreshed it: keep it open.
        if ((this.latestExpiry.get(key) ?? 0) > grant.expiresAt) return;
        this.latestExpiry.delete(key);
        for (const rule of rulesOf(grant)) await this.firewall.close(rule);
      });
      this.log.info(
        { event: "expire", door: grant.door, ip: grant.ip, user: grant.user },
        "grant expired",
      );
    }
    return expired.length;
  }

  /**
   * Brings the kernel in line with time: closes every rule whose own expiry has passed
   * (the kernel's listing carries it), so a restart after a crash never leaves a port
   * open past its expiry, even when the store was in memory and is gone.
   */
  async reconcile(): Promise<{ closed: number; live: number }> {
    const now = this.now();
    let closed = 0;
    const rules = await this.firewall.list();
    for (const rule of rules) {
      if (rule.expiresAt <= now) {
        await this.firewall.close(rule);
        closed++;
      }
    }
    // The kernel part above needs no store; a store outage must not stop it.
    await this.sweep().catch((error: unknown) => {
      this.log.error({ err: error }, "sweep at reconcile failed; the sweeper retries");
    });
    return { closed, live: rules.length - closed };
  }

  /** Reconciles, then sweeps every `intervalMs` until stop(). */
  async start(intervalMs: number): Promise<void> {
    const result = await this.reconcile();
    this.log.info({ event: "reconcile", ...result }, "firewall reconciled with the store");
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

  private serial<T>(door: string, ip: string, task: () => Promise<T>): Promise<T> {
    const key = grantId(door, ip);
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

/** One firewall rule per port of a grant. */
export function rulesOf(grant: GrantRecord): FirewallRule[] {
  return grant.ports.map(({ proto, port }) => ({
    ip: grant.ip,
    proto,
    port,
    expiresAt: grant.expiresAt,
  }));
}

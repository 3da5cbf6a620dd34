import type { DoorConfig } from "../config/types.js";
import { UnsafeValueError } from "../errors.js";
import type { FirewallAdapter } from "../firewall/types.js";
import { assertRule } from "../firewall/validate.js";
import { canonicalIp } from "../net/ip.js";
import { grantId, type GrantRecord, type KnockStore } from "../store/types.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { GrantEventSink, HostState } from "../fleet/publisher.js";
import { includesLocal, LOCAL_HOST, remoteHosts } from "../fleet/keys.js";
import { closeTokenMatches, hashCloseToken, newCloseToken } from "./close-token.js";
import { KeyQueue } from "./key-queue.js";
import { canonical, rulesOf } from "./grant-rules.js";
import { LocalRules } from "./local-rules.js";

/** A grant as `open` hands it out: the record, and the close token that was given with it. */
export interface OpenedGrant {
  /** The stored record (holding only the token's hash). */
  readonly grant: GrantRecord;
  /** The one secret that lets the knocker close this grant early; never stored. */
  readonly closeToken: string;
}

/**
 * Opens, refreshes, revokes and expires grants, keeping the store's record and the
 * kernel's rules in step. Firewall calls for one IP are serialised, so a sweep can never
 * close a rule a concurrent re-knock just refreshed.
 *
 * Two sources of truth for expiry, checked on every sweep: the store's grant records, and
 * the firewall's own listing (the iptables `exp=` comment, the command backend's state
 * file). The second is what makes a restart safe: a gateway whose store was in memory (or
 * lost) adopts the live rules it finds at start-up and closes each at its own expiry.
 *
 * One kernel rule per (IP, port) serves every grant of that IP that opens the port
 * (src/knock/local-rules.ts keeps them).
 */
export class GrantManager {
  private readonly queue = new KeyQueue();
  /** Latest expiry this process opened per door and IP; a sweep of an older grant skips it. */
  private readonly latestExpiry = new Map<string, number>();
  /** This host's kernel rules for the grants (shared per IP and port across doors). */
  private readonly rules: LocalRules;
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
    private readonly sink: GrantEventSink | undefined,
    /** Every door's name, read on each call (a reload may change them). */
    doorNames: () => readonly string[],
  ) {
    this.rules = new LocalRules(store, firewall, now, log, doorNames, (ip, task) =>
      this.serial(ip, task),
    );
  }

  /**
   * Opens the door's ports for `ip` (or refreshes their expiry) and records the grant,
   * with the hash of a fresh close token (a re-knock's token replaces the last one).
   */
  async open(door: DoorConfig, ip: string, user: string): Promise<OpenedGrant> {
    const grantedAt = this.now();
    const closeToken = newCloseToken();
    const grant: GrantRecord = {
      door: door.name,
      ip,
      user,
      ports: door.open,
      grantedAt,
      expiresAt: grantedAt + door.openForMs,
      ...(door.hosts === undefined ? {} : { hosts: door.hosts }),
      closeHash: hashCloseToken(closeToken),
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
      await this.rules.apply(grant);
      this.latestExpiry.set(grantId(door.name, ip), grant.expiresAt);
    });
    return { grant, closeToken };
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
      const grant = await this.remove(doorName, ip);
      if (grant)
        this.log.info(
          { event: "revoke", door: grant.door, ip: grant.ip, user: grant.user },
          "grant revoked",
        );
      return grant;
    });
  }

  /**
   * Closes the grant of `ip` on a door at its knocker's request, if `token` is the close
   * token given out with it and the grant is live; else closes nothing and resolves
   * undefined (the caller answers that with the decoy, whatever the reason). The token
   * works once: the record that holds its hash is removed atomically.
   */
  async close(doorName: string, ip: string, token: string): Promise<GrantRecord | undefined> {
    return this.serial(ip, async () => {
      const [record] = await this.store.grantsOf(ip, [doorName]);
      if (record === undefined || record.expiresAt <= this.now()) return undefined;
      if (!closeTokenMatches(record.closeHash, token)) return undefined;
      const grant = await this.remove(doorName, ip, record.closeHash);
      if (grant)
        this.log.info(
          { event: "close", door: grant.door, ip: grant.ip, user: grant.user },
          "grant closed by its knocker",
        );
      return grant;
    });
  }

  /** Removes the record (only one with `closeHash`, if given) and releases its rules. In the IP's queue. */
  private async remove(
    doorName: string,
    ip: string,
    closeHash?: string,
  ): Promise<GrantRecord | undefined> {
    const grant = await this.store.removeGrant(doorName, ip, closeHash);
    if (grant) {
      await this.rules.release(grant, false);
      await this.announce("revoked", grant);
    }
    this.latestExpiry.delete(grantId(doorName, ip));
    return grant;
  }

  /**
   * Closes every grant whose expiry has passed per the store, then every rule the firewall
   * lists past its own expiry whether or not the store knows it. Returns how many grants
   * and unrecorded rules it closed.
   */
  async sweep(): Promise<number> {
    const grants = await this.sweepStore();
    if (this.firewall.kernelRemovesExpired) return grants;
    return grants + (await this.rules.sweepListed()).closed;
  }

  /**
   * Brings the kernel in line with time at start-up: closes every listed rule whose own
   * expiry has passed, and adopts the live ones (the sweeper closes each at its expiry,
   * from the listing), so a restart never leaves a port open past its expiry, even when
   * the store was in memory and is gone.
   */
  async reconcile(): Promise<{ closed: number; adopted: number }> {
    const result = await this.rules.sweepListed();
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
        await this.rules.release(grant, true);
      });
      this.log.info(
        { event: "expire", door: grant.door, ip: grant.ip, user: grant.user },
        "grant expired",
      );
    }
    return expired.length;
  }

  /** Runs `task` in the queue of `ip` (its canonical form, as the firewall lists it). */
  private serial<T>(ip: string, task: () => Promise<T>): Promise<T> {
    return this.queue.run(canonical(ip), task);
  }
}

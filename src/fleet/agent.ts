import type { RedisClient } from "../store/redis-client.js";
import type { Clock } from "../clock.js";
import type { PortSpec } from "../config/types.js";
import { applyRules } from "../firewall/batch.js";
import { ruleKey, type FirewallAdapter, type FirewallRule } from "../firewall/types.js";
import type { Logger } from "../log.js";
import { grantId } from "../store/types.js";
import { decodeEntry, decodeGrant, type FleetGrant } from "./events.js";
import { hostKeys, type HostKeys } from "./keys.js";
import { lastGeneratedId, missedEvents, readStreamInfo } from "./stream-info.js";

/** What an agent needs, injected. */
export interface FleetAgentOptions {
  /** This host's name (`agent.name`). */
  readonly host: string;
  /** The store's keyPrefix, as the gateway uses it. */
  readonly keyPrefix: string;
  /** A client whose commandTimeout exceeds `blockMs` (XREAD blocks on it). */
  readonly redis: RedisClient;
  readonly firewall: FirewallAdapter;
  /** The ports this host protects: the base ruleset, and the only ports a grant may open here. */
  readonly ports: readonly PortSpec[];
  readonly now: Clock;
  readonly log: Logger;
  /** How often expired rules are deleted when the kernel does not delete them itself. */
  readonly sweepIntervalMs: number;
  /** Longest XREAD wait; also the heartbeat period. */
  readonly blockMs?: number;
}

/** Events read per XREAD: large enough to catch up fast, small enough to keep heartbeats flowing. */
const READ_COUNT = 500;
/** Back-off after a Redis failure, doubling up to the cap. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/**
 * Applies one host's grants from Redis to its kernel: a snapshot at start (with each
 * grant's remaining time), then the host's event stream from the cursor taken with that
 * snapshot. Expiry never depends on Redis or the gateway: the kernel's own timeouts
 * (ipset, nftables) or time match (iptables) close every rule on time, even with this agent
 * dead, and this agent's sweeper deletes the expired rules the kernel keeps (iptables) or
 * closes them (the command backend).
 */
export class FleetAgent {
  private readonly keys: HostKeys;
  private readonly allowed: Set<string>;
  /** Grants this agent has programmed, by grant id. */
  private readonly applied = new Map<string, FleetGrant>();
  private cursor = "0-0";
  private needSync = true;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly blockMs: number;

  constructor(private readonly options: FleetAgentOptions) {
    this.keys = hostKeys(options.keyPrefix, options.host);
    this.allowed = new Set(options.ports.map((p) => `${p.proto}/${p.port}`));
    this.blockMs = options.blockMs ?? 1000;
  }

  /** Installs the base ruleset, closes what expired while it was down, then follows Redis. */
  async start(): Promise<void> {
    await this.options.firewall.init(this.options.ports);
    await this.sweepKernel();
    this.sweeper = setInterval(() => {
      void this.sweepKernel().catch((error: unknown) => {
        this.options.log.error({ err: error }, "agent sweep failed; will retry");
      });
    }, this.options.sweepIntervalMs);
    this.sweeper.unref();
    // The first sync is awaited so a started agent has programmed the snapshot; if Redis
    // is down it is retried by the loop (the kernel sweep above already ran).
    await this.sync().catch((error: unknown) => {
      this.options.log.error({ err: error }, "agent cannot reach Redis yet; retrying");
    });
    this.loop = this.run();
  }

  /** Stops following (within one XREAD wait) and the sweeper. Kernel rules stay and expire. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    await this.loop;
    this.options.firewall.release?.();
  }

  /** Grants currently programmed and live. */
  get appliedCount(): number {
    const now = this.options.now();
    return [...this.applied.values()].filter((g) => g.expiresAt > now).length;
  }

  private async run(): Promise<void> {
    let retryMs = RETRY_MIN_MS;
    while (!this.stopping) {
      try {
        if (this.needSync) await this.sync();
        await this.follow();
        retryMs = RETRY_MIN_MS;
      } catch (error) {
        this.options.log.error({ err: error, retryMs }, "agent cannot follow Redis; retrying");
        await new Promise((resolve) => setTimeout(resolve, retryMs));
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
        // Events may have been trimmed while we were away: re-check before reading on.
        this.needSync = await this.cursorIsStale().catch(() => true);
      }
    }
  }

  /** True when the stream no longer holds every event after our cursor. */
  private async cursorIsStale(): Promise<boolean> {
    return missedEvents(await readStreamInfo(this.options.redis, this.keys.events), this.cursor);
  }

  /** Programs the snapshot: the live grants with their remaining time; closes everything else. */
  private async sync(): Promise<void> {
    const { redis, firewall, now, log } = this.options;
    // One MULTI: the cursor and the snapshot describe the same instant.
    const replies = await redis
      .multi()
      .xinfo("STREAM", this.keys.events)
      .hgetall(this.keys.grants)
      .exec();
    if (replies === null) throw new Error("MULTI was aborted");
    const [[infoError, info] = [null, null], [grantsError, snapshot] = [null, {}]] = replies;
    if (grantsError) throw grantsError;
    const lastId = infoError ? "0-0" : (lastGeneratedId(info) ?? "0-0");
    const at = now();
    const wanted = new Map<string, FirewallRule>();
    this.applied.clear();
    for (const [id, json] of Object.entries(snapshot as Record<string, string>)) {
      const grant = this.accept(decodeGrant(json), id);
      if (grant === undefined || grant.expiresAt <= at) continue;
      this.applied.set(id, grant);
      for (const rule of this.rulesOf(grant)) {
        const key = ruleKey(rule);
        if ((wanted.get(key)?.expiresAt ?? 0) < rule.expiresAt) wanted.set(key, rule);
      }
    }
    const kernel = new Map((await firewall.list()).map((rule) => [ruleKey(rule), rule]));
    // One batch (one kernel transaction where the backend has one): 10,000 grants after a
    // restart are programmed in well under a second instead of one command each. Rules
    // already there with (about) this expiry are left alone.
    await applyRules(firewall, {
      close: [...kernel].filter(([key]) => !wanted.has(key)).map(([, rule]) => rule),
      open: [...wanted]
        .filter(
          ([key, rule]) => Math.abs((kernel.get(key)?.expiresAt ?? 0) - rule.expiresAt) > 1000,
        )
        .map(([, rule]) => rule),
    });
    this.cursor = lastId;
    this.needSync = false;
    const confirmed = [...this.applied].flatMap(([id, g]) => [id, String(g.expiresAt)]);
    const tx = redis.multi().del(this.keys.confirmed);
    if (confirmed.length > 0) tx.hset(this.keys.confirmed, ...confirmed);
    await tx.exec();
    await this.heartbeat();
    log.info(
      { event: "agent-sync", host: this.options.host, grants: this.applied.size, cursor: lastId },
      "agent synced from the snapshot",
    );
  }

  /** Reads and applies one batch of events (or waits up to blockMs), then beats. */
  private async follow(): Promise<void> {
    const { redis } = this.options;
    const reply = await redis.xread(
      "COUNT",
      READ_COUNT,
      "BLOCK",
      this.blockMs,
      "STREAMS",
      this.keys.events,
      this.cursor,
    );
    const entries = reply?.[0]?.[1] ?? [];
    // Idle: make sure nothing after our cursor was trimmed unseen (one XINFO per wait).
    if (entries.length === 0) this.needSync = await this.cursorIsStale();
    const opened: string[] = [];
    const closed: string[] = [];
    for (const [id, fields] of entries) {
      const event = decodeEntry(id, fields);
      this.cursor = id;
      const grant = this.accept(event?.grant, id);
      if (event === undefined || grant === undefined) continue;
      const key = grantId(grant.door, grant.ip);
      if (event.kind === "open") {
        if (grant.expiresAt <= this.options.now()) continue;
        for (const rule of this.rulesOf(grant)) await this.options.firewall.open(rule);
        this.applied.set(key, grant);
        opened.push(key, String(grant.expiresAt));
      } else {
        await this.close(key, grant);
        closed.push(key);
      }
    }
    if (opened.length > 0 || closed.length > 0) {
      const tx = redis.multi();
      if (opened.length > 0) tx.hset(this.keys.confirmed, ...opened);
      if (closed.length > 0) tx.hdel(this.keys.confirmed, ...closed);
      await tx.exec();
    }
    await this.heartbeat();
  }

  /** Closes a revoked grant's rules, then re-opens any still held by another live grant. */
  private async close(key: string, grant: FleetGrant): Promise<void> {
    this.applied.delete(key);
    const rules = this.rulesOf(grant);
    for (const rule of rules) await this.options.firewall.close(rule);
    const now = this.options.now();
    const gone = new Set(rules.map(ruleKey));
    for (const other of this.applied.values()) {
      if (other.expiresAt <= now) continue;
      for (const rule of this.rulesOf(other)) {
        if (gone.has(ruleKey(rule))) await this.options.firewall.open(rule);
      }
    }
  }

  private async heartbeat(): Promise<void> {
    await this.options.redis.hset(this.keys.agent, {
      cursor: this.cursor,
      heartbeatAt: this.options.now(),
      applied: this.appliedCount,
      backend: this.options.firewall.name,
    });
  }

  /** Deletes expired rules the kernel keeps, and forgets expired grants either way. */
  private async sweepKernel(): Promise<void> {
    const now = this.options.now();
    for (const [key, grant] of this.applied) if (grant.expiresAt <= now) this.applied.delete(key);
    if (this.options.firewall.kernelRemovesExpired) return;
    for (const rule of await this.options.firewall.list()) {
      if (rule.expiresAt <= now) await this.options.firewall.close(rule);
    }
  }

  /** Drops malformed grants and ports this host does not protect, saying so in the log. */
  private accept(grant: FleetGrant | undefined, id: string): FleetGrant | undefined {
    if (grant === undefined) {
      this.options.log.warn({ event: "agent-bad-event", id }, "ignored a malformed grant");
      return undefined;
    }
    const ports = grant.ports.filter((p) => this.allowed.has(`${p.proto}/${p.port}`));
    if (ports.length < grant.ports.length) {
      this.options.log.warn(
        { event: "agent-foreign-port", id, door: grant.door, ports: grant.ports },
        "ignored ports this host does not protect (add them to agent.ports)",
      );
    }
    return ports.length === 0 ? undefined : { ...grant, ports };
  }

  private rulesOf(grant: FleetGrant): FirewallRule[] {
    return grant.ports.map(({ proto, port }) => ({
      ip: grant.ip,
      proto,
      port,
      expiresAt: grant.expiresAt,
    }));
  }
}

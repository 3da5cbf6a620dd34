import { systemClock, type Clock } from "../clock.js";
import { DEFAULT_PREFIX_LENGTHS, subjectOf, type PrefixLengths } from "../net/prefix.js";
import { pageLimit, pageOf } from "./ban-page.js";
import {
  BANNED_STEP_WINDOW_MS,
  BANNED_WALKS_PER_WINDOW,
  grantId,
  type AdvanceOutcome,
  type AdvanceRequest,
  type BanCursor,
  type BanPage,
  type BanRecord,
  type GrantRecord,
  type KnockStore,
} from "./types.js";

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

/** Purge expired entries once per this many writes, so memory stays bounded without a timer. */
const PURGE_EVERY_WRITES = 1024;

/**
 * The embedded store for a single gateway instance: plain Maps with expiry read
 * from the injected clock. JavaScript runs each method body without interleaving,
 * which gives the same atomicity the Redis store gets from Lua.
 */
export class MemoryStore implements KnockStore {
  readonly kind = "memory" as const;
  private readonly progress = new Map<string, Expiring<number>>();
  private readonly challenges = new Map<string, Expiring<string>>();
  private readonly totpSteps = new Map<string, Expiring<number>>();
  private readonly grants = new Map<string, GrantRecord>();
  private readonly bans = new Map<string, Expiring<string>>();
  private readonly bannedSteps = new Map<string, Expiring<number>>();
  private writes = 0;

  /** `lengths`: which addresses count as one client for bans (limits.ipv4Prefix/ipv6Prefix). */
  constructor(
    private readonly now: Clock = systemClock,
    private readonly lengths: PrefixLengths = DEFAULT_PREFIX_LENGTHS,
  ) {}

  advance(request: AdvanceRequest): Promise<AdvanceOutcome> {
    return Promise.resolve(this.advanceNow(request));
  }

  /** Mirrors ADVANCE_SCRIPT in redis-scripts.ts step for step; the contract suite holds them equal. */
  private advanceNow({
    door,
    ip,
    step,
    length,
    sequenceTimeoutMs,
    challenge,
  }: AdvanceRequest): AdvanceOutcome {
    const key = grantId(door, ip);
    const subject = subjectOf(ip, this.lengths);
    const now = this.now();
    if (this.live(this.bans, subject, now) !== undefined && this.overBudget(subject, length, now))
      return "banned";
    const current = this.live(this.progress, key, now) ?? 0;
    const issueChallenge = (): AdvanceOutcome => {
      this.write(this.challenges, key, challenge.token, now + challenge.ttlMs);
      return "challenge";
    };
    if (step === current) {
      const entry = this.progress.get(key);
      if (step === 0 || entry === undefined)
        this.write(this.progress, key, 1, now + sequenceTimeoutMs);
      else entry.value = step + 1; // keeps the expiry set by the first step
      return step + 1 === length ? issueChallenge() : "progress";
    }
    if (step + 1 === current) {
      // A reload of the last step re-issues a challenge until the sequence times out.
      return current === length ? issueChallenge() : "repeat";
    }
    if (step === 0) this.write(this.progress, key, 1, now + sequenceTimeoutMs);
    else this.progress.delete(key);
    return "reset";
  }

  /** Counts a banned subject's step; true when it is over its budget for the window. */
  private overBudget(subject: string, length: number, now: number): boolean {
    const entry = this.bannedSteps.get(subject);
    if (entry === undefined || entry.expiresAt <= now) {
      this.write(this.bannedSteps, subject, 1, now + BANNED_STEP_WINDOW_MS);
      return 1 > BANNED_WALKS_PER_WINDOW * length;
    }
    return ++entry.value > BANNED_WALKS_PER_WINDOW * length;
  }

  ban(ip: string, ms: number, reason: string): Promise<void> {
    const subject = subjectOf(ip, this.lengths);
    const now = this.now();
    const existing = this.live(this.bans, subject, now);
    const until = now + ms;
    if (existing === undefined || (this.bans.get(subject)?.expiresAt ?? 0) < until)
      this.write(this.bans, subject, reason, until);
    return Promise.resolve();
  }

  isBanned(ip: string): Promise<boolean> {
    const subject = subjectOf(ip, this.lengths);
    return Promise.resolve(this.live(this.bans, subject, this.now()) !== undefined);
  }

  /** A sort of the live bans per page: fine in one process, where bans are few. */
  listBans(page: { cursor?: BanCursor; limit?: number } = {}): Promise<BanPage> {
    const limit = pageLimit(page.limit);
    const { cursor } = page;
    const after = (ban: BanRecord) =>
      cursor === undefined ||
      ban.until > cursor.until ||
      (ban.until === cursor.until && ban.ip > cursor.ip);
    const bans = this.liveBans()
      .filter(after)
      .sort((a, b) => a.until - b.until || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0))
      .slice(0, limit);
    return Promise.resolve(pageOf(bans, limit));
  }

  countBans(): Promise<number> {
    return Promise.resolve(this.liveBans().length);
  }

  unban(ip: string): Promise<boolean> {
    const subject = subjectOf(ip, this.lengths);
    const live = this.live(this.bans, subject, this.now()) !== undefined;
    this.bans.delete(subject);
    this.bannedSteps.delete(subject);
    return Promise.resolve(live);
  }

  hasChallenge(door: string, ip: string): Promise<boolean> {
    return Promise.resolve(this.live(this.challenges, grantId(door, ip), this.now()) !== undefined);
  }

  takeChallenge(token: string, door: string, ip: string): Promise<boolean> {
    const key = grantId(door, ip);
    if (this.live(this.challenges, key, this.now()) !== token) return Promise.resolve(false);
    this.challenges.delete(key);
    return Promise.resolve(true);
  }

  claimTotpStep(user: string, timeStep: number, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const last = this.live(this.totpSteps, user, now);
    if (last !== undefined && timeStep <= last) return Promise.resolve(false);
    this.write(this.totpSteps, user, timeStep, now + ttlMs);
    return Promise.resolve(true);
  }

  putGrant(grant: GrantRecord): Promise<void> {
    this.grants.set(grantId(grant.door, grant.ip), grant);
    return Promise.resolve();
  }

  getGrant(door: string, ip: string): Promise<GrantRecord | undefined> {
    return Promise.resolve(this.grants.get(grantId(door, ip)));
  }

  removeGrant(door: string, ip: string): Promise<GrantRecord | undefined> {
    const id = grantId(door, ip);
    const grant = this.grants.get(id);
    this.grants.delete(id);
    return Promise.resolve(grant);
  }

  listGrants(): Promise<GrantRecord[]> {
    return Promise.resolve([...this.grants.values()].sort((a, b) => a.expiresAt - b.expiresAt));
  }

  takeExpiredGrants(now: number, limit = 1000): Promise<GrantRecord[]> {
    const expired: GrantRecord[] = [];
    for (const [id, grant] of this.grants) {
      if (expired.length >= limit) break;
      if (grant.expiresAt <= now) {
        expired.push(grant);
        this.grants.delete(id);
      }
    }
    return Promise.resolve(expired.sort((a, b) => a.expiresAt - b.expiresAt));
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Number of tracked entries of every kind; for the memory benchmark. */
  get size(): number {
    return (
      this.progress.size +
      this.challenges.size +
      this.totpSteps.size +
      this.grants.size +
      this.bans.size +
      this.bannedSteps.size
    );
  }

  private liveBans(): BanRecord[] {
    const now = this.now();
    const bans: BanRecord[] = [];
    for (const [ip, entry] of this.bans)
      if (entry.expiresAt > now) bans.push({ ip, until: entry.expiresAt, reason: entry.value });
    return bans;
  }

  private live<T>(map: Map<string, Expiring<T>>, key: string, now: number): T | undefined {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry.value;
    map.delete(key);
    return undefined;
  }

  private write<T>(map: Map<string, Expiring<T>>, key: string, value: T, expiresAt: number): void {
    map.set(key, { value, expiresAt });
    if (++this.writes % PURGE_EVERY_WRITES === 0) this.purge(this.now());
  }

  private purge(now: number): void {
    for (const map of [
      this.progress,
      this.challenges,
      this.totpSteps,
      this.bans,
      this.bannedSteps,
    ] as Map<string, Expiring<unknown>>[]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
  }
}

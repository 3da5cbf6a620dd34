import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { LimitsConfig } from "../config/types.js";
import { StoreUnavailableError } from "../errors.js";
import type { AttemptLimiter } from "../knock/engine.js";
import type { Logger } from "../log.js";
import { subjectOf } from "../net/prefix.js";
import type { LimiterFactory } from "../store/backend.js";

/** User names are at most 64 characters; a longer one cannot be valid, so it is cut to bound keys. */
const MAX_USER_KEY = 64;
/** Lockouts are counted "without limit"; rate-limiter-flexible needs some number of points. */
const UNBOUNDED_POINTS = 1_000_000_000;

/**
 * Brute-force limiter over rate-limiter-flexible. Every code check first reserves an
 * attempt against both the user (across all IPs) and the client IP, atomically in the
 * store, so concurrent attempts can never verify more than `maxFailures` codes before a
 * lockout, on any number of gateways. The failure that uses up the last attempt starts a
 * lockout (exactly once, guarded by a marker key) that doubles with each lockout within
 * `lockoutMemory`, capped at `maxLockout`. A success forgets the user's failures and
 * refunds the IP's reservation. Store errors reject with StoreUnavailableError: there is
 * no insurance limiter, because when the count cannot be kept the gateway fails closed.
 */
export class RateLimitedAttempts implements AttemptLimiter {
  /** Reserved attempts (in flight + failed) per key, forgotten after failureWindow. */
  private readonly attempts: RateLimiterAbstract;
  /** A live key here is a lockout; consume() on it is the start-exactly-once marker. */
  private readonly locks: RateLimiterAbstract;
  /** Lockouts per key within lockoutMemory, for the doubling. */
  private readonly lockouts: RateLimiterAbstract;

  constructor(
    private readonly limits: LimitsConfig,
    counters: LimiterFactory,
    private readonly log: Logger,
  ) {
    const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
    const make = (name: string, points: number, durationMs: number): RateLimiterAbstract =>
      counters(name, points, seconds(durationMs));
    this.attempts = make("attempts", limits.maxFailures, limits.failureWindowMs);
    this.locks = make("lock", 1, limits.maxLockoutMs);
    this.lockouts = make("lockouts", UNBOUNDED_POINTS, limits.lockoutMemoryMs);
  }

  async check(user: string | undefined, ip: string): Promise<boolean> {
    const keys = this.keysOf(user, ip);
    const locked = await Promise.all(keys.map((key) => guard(this.locks.get(key))));
    if (locked.some((res) => res !== null && res.consumedPoints >= 1)) return false;
    const reserved = await Promise.all(keys.map((key) => guard(this.attempts.consume(key))));
    // Over the limit without a lock yet: other attempts are in flight and will lock it.
    return reserved.every((res) => res.consumedPoints <= this.limits.maxFailures);
  }

  async fail(user: string | undefined, ip: string): Promise<void> {
    for (const key of this.keysOf(user, ip)) {
      const res = await guard(this.attempts.get(key));
      if (res !== null && res.consumedPoints >= this.limits.maxFailures)
        await this.lockOut(key, user, ip);
    }
  }

  async succeed(user: string, ip: string): Promise<void> {
    const userKey = userKeyOf(user);
    await Promise.all([
      guard(this.attempts.delete(userKey)),
      guard(this.lockouts.delete(userKey)),
      // The IP keeps its other failures; only this attempt's reservation is given back.
      guard(this.attempts.reward(this.ipKeyOf(ip), 1)),
    ]);
  }

  /** The counters an attempt touches: the client's always, the user's only when accountable. */
  private keysOf(user: string | undefined, ip: string): string[] {
    return user === undefined ? [this.ipKeyOf(ip)] : [userKeyOf(user), this.ipKeyOf(ip)];
  }

  /** IPs are counted per client prefix (limits.ipv4Prefix/ipv6Prefix): rotating within it gains nothing. */
  private ipKeyOf(ip: string): string {
    return `i:${subjectOf(ip, this.limits)}`;
  }

  /** Starts a lockout for `key` unless a concurrent failure already did. */
  private async lockOut(key: string, user: string | undefined, ip: string): Promise<void> {
    const marker = await guard(this.locks.consume(key));
    if (marker.consumedPoints !== 1) return;
    const count = (await guard(this.lockouts.penalty(key, 1))).consumedPoints;
    const ms = Math.min(
      this.limits.lockoutMs * 2 ** Math.min(count - 1, 30),
      this.limits.maxLockoutMs,
    );
    await guard(this.locks.block(key, ms / 1000));
    // After the lockout the key starts again with a full set of attempts.
    await guard(this.attempts.delete(key));
    const subject = key.startsWith("u:") ? { kind: "user" } : { kind: "ip" };
    this.log.warn(
      {
        event: "ban",
        reason: "brute-force",
        ...subject,
        user: user?.slice(0, MAX_USER_KEY),
        ip,
        lockout: count,
        durationMs: ms,
      },
      `${subject.kind} locked out after ${this.limits.maxFailures} failed codes`,
    );
  }
}

const userKeyOf = (user: string) => `u:${user.slice(0, MAX_USER_KEY)}`;

/**
 * rate-limiter-flexible rejects with a RateLimiterRes when points run out (an answer,
 * not an error) and with an Error when the store fails (fail closed).
 */
async function guard<T>(operation: Promise<T>): Promise<T | RateLimiterRes> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof RateLimiterRes) return error;
    throw new StoreUnavailableError(error);
  }
}

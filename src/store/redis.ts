import { Redis, type RedisOptions } from "ioredis";
import { StoreUnavailableError } from "../errors.js";
import type { RedisTarget } from "../config/types.js";
import { systemClock, type Clock } from "../clock.js";
import { DEFAULT_PREFIX_LENGTHS, subjectOf, type PrefixLengths } from "../net/prefix.js";
import { registerScripts, type ScriptedRedis } from "./redis-scripts.js";
import { redisKeys, type RedisKeys } from "./keys.js";
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

const OUTCOMES: readonly AdvanceOutcome[] = ["progress", "repeat", "reset", "challenge", "banned"];

/** Maps an advance script reply to its outcome; an unknown reply means a broken store. */
function toOutcome(code: number): AdvanceOutcome {
  const outcome = OUTCOMES[code];
  if (outcome === undefined) throw new StoreUnavailableError(new Error(`advance returned ${code}`));
  return outcome;
}

/** A client or server failure, as every store method reports it, so the caller fails closed. */
function unavailable(error: unknown): never {
  throw new StoreUnavailableError(error);
}

/** Expired ban index entries dropped per ban, so the index never needs a full pass. */
const BAN_TRIM_BATCH = 100;

/** Grant records outlive their expiry this long, so a sweeper that was down can still close them. */
const GRANT_RECORD_GRACE_MS = 24 * 3_600_000;

/**
 * Client options for a gateway that must fail closed: no offline queue (a command
 * fails at once while disconnected), a per-command timeout (a frozen server cannot
 * hang a request: 300 ms keeps a knock's 503 well under half a second), no per-request
 * retries (a retry would double the wait), and endless background reconnects (it
 * recovers by itself). `socketTimeout` drops a connection that has had commands
 * outstanding without a byte back for 2 s (a frozen or vanished server, which TCP
 * alone would notice only after minutes), so commands stop piling up on it and fail
 * at once until a reconnect succeeds.
 */
export const FAIL_CLOSED_REDIS_OPTIONS: RedisOptions = Object.freeze({
  enableOfflineQueue: false,
  commandTimeout: 300,
  maxRetriesPerRequest: 0,
  connectTimeout: 2000,
  socketTimeout: 2000,
  retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
});

/**
 * Creates an ioredis client with the fail-closed options, for a URL or a Sentinel group.
 * Through Sentinel, a failover drops the connection: commands fail (the gateway answers
 * 503) until ioredis has asked the sentinels for the new master and reconnected.
 */
export function createRedisClient(target: RedisTarget, options: RedisOptions = {}): Redis {
  if (typeof target === "string")
    return new Redis(target, { ...FAIL_CLOSED_REDIS_OPTIONS, ...options });
  return new Redis({
    ...FAIL_CLOSED_REDIS_OPTIONS,
    sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
    name: target.name,
    role: "master",
    username: target.username,
    password: target.password,
    db: target.db,
    // Ask the sentinels again at once after a failover; bounded like the reconnects.
    sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
    ...options,
  });
}

/** KnockStore on Redis: every method is one round trip, multi-step ones one Lua script. */
export class RedisStore implements KnockStore {
  readonly kind = "redis" as const;
  private readonly redis: ScriptedRedis;

  /** Every key this store (and the limiter sharing its client) uses. */
  readonly keys: RedisKeys;

  /**
   * @param prefix namespace of every key (`store.keyPrefix`)
   * @param lengths which addresses count as one client for bans (limits.ipv4Prefix/ipv6Prefix)
   */
  constructor(
    client: Redis,
    prefix = "wk:",
    private readonly now: Clock = systemClock,
    private readonly lengths: PrefixLengths = DEFAULT_PREFIX_LENGTHS,
  ) {
    this.keys = redisKeys(prefix);
    this.redis = registerScripts(client);
  }

  /**
   * Waits until the client is connected (the offline queue is off, so commands sent
   * earlier would fail). Rejects with StoreUnavailableError after `timeoutMs`.
   */
  async connect(timeoutMs = 5000): Promise<void> {
    if (this.redis.status === "ready") return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new StoreUnavailableError(new Error(`Redis not ready after ${timeoutMs} ms`)));
      }, timeoutMs);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.redis.off("ready", onReady);
      };
      this.redis.on("ready", onReady);
    });
  }

  /**
   * The knock-step hot path: one EVALSHA, chained with `.then` rather than through the
   * generic async `call()`, so a step costs no extra promises. Failures are the same:
   * any client error (thrown or rejected) becomes StoreUnavailableError, and so does a
   * reply that is not a known outcome.
   */
  advance(r: AdvanceRequest): Promise<AdvanceOutcome> {
    let reply: Promise<number>;
    try {
      const { keys } = this;
      const subject = subjectOf(r.ip, this.lengths);
      reply = this.redis.wkAdvance(
        keys.progress(subject, r.door, r.ip),
        keys.challenge(subject, r.door, r.ip),
        keys.ban(subject),
        keys.bannedSteps(subject),
        r.step,
        r.length,
        r.sequenceTimeoutMs,
        r.challenge.ttlMs,
        r.challenge.token,
        BANNED_STEP_WINDOW_MS,
        BANNED_WALKS_PER_WINDOW * r.length,
      );
    } catch (error) {
      return Promise.reject(new StoreUnavailableError(error));
    }
    return reply.then(toOutcome, unavailable);
  }

  /** Two round trips: the ban in the client's slot, then the index in the {bans} slot. */
  async ban(ip: string, ms: number, reason: string): Promise<void> {
    const subject = subjectOf(ip, this.lengths);
    const now = this.now();
    const until = now + ms;
    const { keys } = this;
    const written = await this.call(() => this.redis.wkBan(keys.ban(subject), until, reason));
    if (written !== 1) return;
    await this.call(() =>
      this.redis.wkIndexBan(
        keys.banIndex,
        keys.banReasons,
        subject,
        until,
        reason,
        now,
        BAN_TRIM_BATCH,
      ),
    );
  }

  async isBanned(ip: string): Promise<boolean> {
    const key = this.keys.ban(subjectOf(ip, this.lengths));
    return (await this.call(() => this.redis.exists(key))) === 1;
  }

  async listBans(page: { cursor?: BanCursor; limit?: number } = {}): Promise<BanPage> {
    const limit = pageLimit(page.limit);
    const { cursor } = page;
    const rows = await this.call(() =>
      this.redis.wkListBans(
        this.keys.banIndex,
        this.keys.banReasons,
        this.now(),
        limit,
        cursor?.until ?? 0,
        cursor?.ip ?? "",
      ),
    );
    const bans: BanRecord[] = [];
    for (let i = 0; i + 2 < rows.length; i += 3) {
      bans.push({ ip: rows[i] ?? "", until: Number(rows[i + 1]), reason: rows[i + 2] ?? "" });
    }
    return pageOf(bans, limit);
  }

  async countBans(): Promise<number> {
    const now = this.now();
    return this.call(() => this.redis.zcount(this.keys.banIndex, `(${now}`, "+inf"));
  }

  async unban(ip: string): Promise<boolean> {
    const subject = subjectOf(ip, this.lengths);
    const { keys } = this;
    const removed = await this.call(() =>
      this.redis.wkUnban(keys.ban(subject), keys.bannedSteps(subject)),
    );
    await this.call(() => this.redis.wkUnindexBan(keys.banIndex, keys.banReasons, subject));
    return removed === 1;
  }

  async hasChallenge(door: string, ip: string): Promise<boolean> {
    const key = this.keys.challenge(subjectOf(ip, this.lengths), door, ip);
    return (await this.call(() => this.redis.exists(key))) === 1;
  }

  async takeChallenge(token: string, door: string, ip: string): Promise<boolean> {
    const key = this.keys.challenge(subjectOf(ip, this.lengths), door, ip);
    return (await this.call(() => this.redis.wkTakeChallenge(key, token))) === 1;
  }

  async claimTotpStep(user: string, timeStep: number, ttlMs: number): Promise<boolean> {
    return (
      (await this.call(() => this.redis.wkClaimTotp(this.keys.totp(user), timeStep, ttlMs))) === 1
    );
  }

  async putGrant(grant: GrantRecord): Promise<void> {
    await this.call(() =>
      this.redis.wkPutGrant(
        ...this.grantKeys(),
        grantId(grant.door, grant.ip),
        JSON.stringify(grant),
        grant.expiresAt,
        grant.expiresAt + GRANT_RECORD_GRACE_MS,
        this.now(),
      ),
    );
  }

  async getGrant(door: string, ip: string): Promise<GrantRecord | undefined> {
    const [hash] = this.grantKeys();
    // One HGET on the hash-tagged grants hash: no script, one slot.
    const json = await this.call(() => this.redis.hget(hash, grantId(door, ip)));
    return json === null ? undefined : (JSON.parse(json) as GrantRecord);
  }

  async removeGrant(door: string, ip: string): Promise<GrantRecord | undefined> {
    const json = await this.call(() =>
      this.redis.wkRemoveGrant(...this.grantKeys(), grantId(door, ip)),
    );
    return json === null ? undefined : (JSON.parse(json) as GrantRecord);
  }

  async listGrants(): Promise<GrantRecord[]> {
    const [hash] = this.grantKeys();
    const values = await this.call(() => this.redis.hvals(hash));
    return values
      .map((json) => JSON.parse(json) as GrantRecord)
      .sort((a, b) => a.expiresAt - b.expiresAt);
  }

  async takeExpiredGrants(now: number, limit = 1000): Promise<GrantRecord[]> {
    const values = await this.call(() => this.redis.wkTakeExpired(...this.grantKeys(), now, limit));
    return values.map((json) => JSON.parse(json) as GrantRecord);
  }

  async ping(): Promise<void> {
    await this.call(() => this.redis.ping());
  }

  async close(): Promise<void> {
    if (this.redis.status === "end") return;
    await this.redis.quit().catch(() => {
      this.redis.disconnect();
    });
  }

  private grantKeys(): [string, string] {
    return [this.keys.grants, this.keys.grantExpiry];
  }

  /** Any client or server failure becomes StoreUnavailableError, so the caller fails closed. */
  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new StoreUnavailableError(error);
    }
  }
}

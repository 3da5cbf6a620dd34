import { Redis, type RedisOptions } from "ioredis";
import { StoreUnavailableError } from "../errors.js";
import { systemClock, type Clock } from "../clock.js";
import {
  ADVANCE_SCRIPT,
  BAN_SCRIPT,
  LIST_BANS_SCRIPT,
  UNBAN_SCRIPT,
  CLAIM_TOTP_SCRIPT,
  PUT_GRANT_SCRIPT,
  REMOVE_GRANT_SCRIPT,
  TAKE_CHALLENGE_SCRIPT,
  TAKE_EXPIRED_SCRIPT,
} from "./redis-scripts.js";
import {
  grantId,
  type AdvanceOutcome,
  type AdvanceRequest,
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

/** Grant records outlive their expiry this long, so a sweeper that was down can still close them. */
const GRANT_RECORD_GRACE_MS = 24 * 3_600_000;

/** The custom commands `defineCommand` adds to the client. */
interface ScriptedRedis extends Redis {
  wkAdvance(
    progressKey: string,
    challengeKey: string,
    banKey: string,
    latestChallengeKey: string,
    ...argv: (string | number)[]
  ): Promise<number>;
  wkBan(banKey: string, index: string, ...argv: (string | number)[]): Promise<number>;
  wkListBans(index: string, now: number, banPrefix: string): Promise<string[]>;
  wkUnban(banKey: string, index: string, ip: string): Promise<number>;
  wkTakeChallenge(key: string, latestKey: string, binding: string, token: string): Promise<number>;
  wkClaimTotp(key: string, step: number, ttlMs: number): Promise<number>;
  wkPutGrant(hash: string, zset: string, ...argv: (string | number)[]): Promise<number>;
  wkRemoveGrant(hash: string, zset: string, id: string): Promise<string | null>;
  wkTakeExpired(hash: string, zset: string, now: number, limit: number): Promise<string[]>;
}

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

/** Creates an ioredis client for a URL with the fail-closed options. */
export function createRedisClient(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { ...FAIL_CLOSED_REDIS_OPTIONS, ...options });
}

/** KnockStore on Redis: every method is one round trip, multi-step ones one Lua script. */
export class RedisStore implements KnockStore {
  readonly kind = "redis" as const;
  private readonly redis: ScriptedRedis;

  /** Key prefixes of the step hot path, built once. */
  private readonly progressPrefix: string;
  private readonly challengePrefix: string;
  private readonly banPrefix: string;
  private readonly latestChallengePrefix: string;

  constructor(
    client: Redis,
    private readonly prefix = "wk:",
    private readonly now: Clock = systemClock,
  ) {
    this.progressPrefix = `${prefix}p:`;
    this.challengePrefix = `${prefix}c:`;
    this.banPrefix = `${prefix}b:`;
    this.latestChallengePrefix = `${prefix}cl:`;
    client.defineCommand("wkAdvance", { numberOfKeys: 4, lua: ADVANCE_SCRIPT });
    client.defineCommand("wkBan", { numberOfKeys: 2, lua: BAN_SCRIPT });
    client.defineCommand("wkListBans", { numberOfKeys: 1, lua: LIST_BANS_SCRIPT });
    client.defineCommand("wkUnban", { numberOfKeys: 2, lua: UNBAN_SCRIPT });
    client.defineCommand("wkTakeChallenge", { numberOfKeys: 2, lua: TAKE_CHALLENGE_SCRIPT });
    client.defineCommand("wkClaimTotp", { numberOfKeys: 1, lua: CLAIM_TOTP_SCRIPT });
    client.defineCommand("wkPutGrant", { numberOfKeys: 2, lua: PUT_GRANT_SCRIPT });
    client.defineCommand("wkRemoveGrant", { numberOfKeys: 2, lua: REMOVE_GRANT_SCRIPT });
    client.defineCommand("wkTakeExpired", { numberOfKeys: 2, lua: TAKE_EXPIRED_SCRIPT });
    this.redis = client as ScriptedRedis;
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

  /** The prefix of every key, so components sharing the client keep to the same namespace. */
  get keyPrefix(): string {
    return this.prefix;
  }

  /** The underlying client, for components (rate limiters) that share the connection. */
  get client(): Redis {
    return this.redis;
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
      reply = this.redis.wkAdvance(
        this.progressPrefix + r.door + ":" + r.ip,
        this.challengePrefix + r.challenge.token,
        this.banPrefix + r.ip,
        this.latestChallengePrefix + r.door + ":" + r.ip,
        r.step,
        r.length,
        r.sequenceTimeoutMs,
        r.challenge.ttlMs,
        r.door + " " + r.ip,
        r.challenge.token,
      );
    } catch (error) {
      return Promise.reject(new StoreUnavailableError(error));
    }
    return reply.then(toOutcome, unavailable);
  }

  async ban(ip: string, ms: number, reason: string): Promise<void> {
    const now = this.now();
    await this.call(() =>
      this.redis.wkBan(`${this.prefix}b:${ip}`, `${this.prefix}bans`, ip, now + ms, reason, now),
    );
  }

  async isBanned(ip: string): Promise<boolean> {
    return (await this.call(() => this.redis.exists(`${this.prefix}b:${ip}`))) === 1;
  }

  async listBans(): Promise<BanRecord[]> {
    const rows = await this.call(() =>
      this.redis.wkListBans(`${this.prefix}bans`, this.now(), `${this.prefix}b:`),
    );
    const bans: BanRecord[] = [];
    for (let i = 0; i + 2 < rows.length; i += 3) {
      bans.push({ ip: rows[i] ?? "", until: Number(rows[i + 1]), reason: rows[i + 2] ?? "" });
    }
    return bans;
  }

  async unban(ip: string): Promise<boolean> {
    const removed = await this.call(() =>
      this.redis.wkUnban(`${this.prefix}b:${ip}`, `${this.prefix}bans`, ip),
    );
    return removed === 1;
  }

  async hasChallenge(door: string, ip: string): Promise<boolean> {
    const key = `${this.latestChallengePrefix}${door}:${ip}`;
    return (await this.call(() => this.redis.exists(key))) === 1;
  }

  async takeChallenge(token: string, door: string, ip: string): Promise<boolean> {
    const taken = await this.call(() =>
      this.redis.wkTakeChallenge(
        `${this.challengePrefix}${token}`,
        `${this.latestChallengePrefix}${door}:${ip}`,
        `${door} ${ip}`,
        token,
      ),
    );
    return taken === 1;
  }

  async claimTotpStep(user: string, timeStep: number, ttlMs: number): Promise<boolean> {
    return (
      (await this.call(() =>
        this.redis.wkClaimTotp(`${this.prefix}t:${user}`, timeStep, ttlMs),
      )) === 1
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
    return [`${this.prefix}g`, `${this.prefix}gx`];
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

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

const OUTCOMES: readonly AdvanceOutcome[] = ["progress", "repeat", "reset", "challenge"];

/** Grant records outlive their expiry this long, so a sweeper that was down can still close them. */
const GRANT_RECORD_GRACE_MS = 24 * 3_600_000;

/** The custom commands `defineCommand` adds to the client. */
interface ScriptedRedis extends Redis {
  wkAdvance(
    progressKey: string,
    challengeKey: string,
    ...argv: (string | number)[]
  ): Promise<number>;
  wkTakeChallenge(key: string, binding: string): Promise<number>;
  wkClaimTotp(key: string, step: number, ttlMs: number): Promise<number>;
  wkPutGrant(hash: string, zset: string, ...argv: (string | number)[]): Promise<number>;
  wkRemoveGrant(hash: string, zset: string, id: string): Promise<string | null>;
  wkTakeExpired(hash: string, zset: string, now: number, limit: number): Promise<string[]>;
  wkBan(hash: string, zset: string, ip: string, json: string, until: number): Promise<number>;
  wkListBans(hash: string, zset: string, now: number): Promise<string[]>;
  wkUnban(hash: string, zset: string, ip: string, now: number): Promise<number>;
}

/**
 * Client options for a gateway that must fail closed: no offline queue (a command
 * fails at once while disconnected), a per-command timeout (a frozen server cannot
 * hang a request) and endless background reconnects (it recovers by itself).
 */
export const FAIL_CLOSED_REDIS_OPTIONS: RedisOptions = Object.freeze({
  enableOfflineQueue: false,
  commandTimeout: 300,
  maxRetriesPerRequest: 0,
  connectTimeout: 2000,
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

  constructor(
    client: Redis,
    private readonly prefix = "wk:",
    private readonly now: Clock = systemClock,
  ) {
    client.defineCommand("wkAdvance", { numberOfKeys: 2, lua: ADVANCE_SCRIPT });
    client.defineCommand("wkTakeChallenge", { numberOfKeys: 1, lua: TAKE_CHALLENGE_SCRIPT });
    client.defineCommand("wkClaimTotp", { numberOfKeys: 1, lua: CLAIM_TOTP_SCRIPT });
    client.defineCommand("wkPutGrant", { numberOfKeys: 2, lua: PUT_GRANT_SCRIPT });
    client.defineCommand("wkRemoveGrant", { numberOfKeys: 2, lua: REMOVE_GRANT_SCRIPT });
    client.defineCommand("wkTakeExpired", { numberOfKeys: 2, lua: TAKE_EXPIRED_SCRIPT });
    client.defineCommand("wkBan", { numberOfKeys: 2, lua: BAN_SCRIPT });
    client.defineCommand("wkListBans", { numberOfKeys: 2, lua: LIST_BANS_SCRIPT });
    client.defineCommand("wkUnban", { numberOfKeys: 2, lua: UNBAN_SCRIPT });
    this.redis = client as ScriptedRedis;
  }

  /** The underlying client, for components (rate limiters) that share the connection. */
  get client(): Redis {
    return this.redis;
  }

  async advance(r: AdvanceRequest): Promise<AdvanceOutcome> {
    const code = await this.call(() =>
      this.redis.wkAdvance(
        `${this.prefix}p:${r.door}:${r.ip}`,
        `${this.prefix}c:${r.challenge.token}`,
        r.step,
        r.length,
        r.sequenceTimeoutMs,
        r.challenge.ttlMs,
        `${r.door} ${r.ip}`,
      ),
    );
    const outcome = OUTCOMES[code];
    if (outcome === undefined)
      throw new StoreUnavailableError(new Error(`advance returned ${code}`));
    return outcome;
  }

  async takeChallenge(token: string, door: string, ip: string): Promise<boolean> {
    const taken = await this.call(() =>
      this.redis.wkTakeChallenge(`${this.prefix}c:${token}`, `${door} ${ip}`),
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

  async ban(ip: string, until: number, reason: string): Promise<void> {
    const record: BanRecord = { ip, until, reason };
    await this.call(() => this.redis.wkBan(...this.banKeys(), ip, JSON.stringify(record), until));
  }

  async listBans(): Promise<BanRecord[]> {
    const values = await this.call(() => this.redis.wkListBans(...this.banKeys(), this.now()));
    return values.map((json) => JSON.parse(json) as BanRecord).sort((a, b) => a.until - b.until);
  }

  async unban(ip: string): Promise<boolean> {
    return (await this.call(() => this.redis.wkUnban(...this.banKeys(), ip, this.now()))) === 1;
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

  private banKeys(): [string, string] {
    return [`${this.prefix}b`, `${this.prefix}bx`];
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

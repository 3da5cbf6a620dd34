import type { PortSpec } from "../config/types.js";

/** What one knock step did to a client's progress on a door. */
export type AdvanceOutcome =
  /** The expected step: progress moved on (the client still sees the decoy). */
  | "progress"
  /** The step just accepted came again (a reload or double tap): nothing changed. */
  | "repeat"
  /** Out of order: progress was cleared (or restarted, if this was the first step). */
  | "reset"
  /** The sequence is complete: the challenge token given was stored and may be issued. */
  | "challenge"
  /** The client is banned and has used up its step budget: nothing changed but the budget. */
  | "banned";

/** One knock step, as the engine hands it to the store. */
export interface AdvanceRequest {
  readonly door: string;
  readonly ip: string;
  /** Index of the requested path in the door's sequence. */
  readonly step: number;
  /** Number of paths in the sequence. */
  readonly length: number;
  /** Progress expires this long after the first step. */
  readonly sequenceTimeoutMs: number;
  /**
   * Stored as the one live challenge of this door and IP if this step completes the
   * sequence; it replaces any earlier one, so a client holds at most one per door.
   */
  readonly challenge: { readonly token: string; readonly ttlMs: number };
}

/** An open door for one client IP; re-knocking replaces the record (one per door and IP). */
export interface GrantRecord {
  readonly door: string;
  readonly ip: string;
  readonly user: string;
  readonly ports: readonly PortSpec[];
  /** Epoch milliseconds. */
  readonly grantedAt: number;
  /** Epoch milliseconds; the sweeper closes the grant after this. */
  readonly expiresAt: number;
  /** Hosts the door names (src/fleet); absent means the gateway's own host only. */
  readonly hosts?: readonly string[];
}

/** A banned client (address or prefix) whose knocks are on a budget until `until` (epoch ms). */
export interface BanRecord {
  /** The address, or `network/length` when limits group addresses by prefix. */
  readonly ip: string;
  readonly until: number;
  /** Why, for the admin listing: "scanner", "admin", ... */
  readonly reason: string;
}

/**
 * A ban does not silence a subject's knocks outright (a person behind a banned address
 * must still get in with the right sequence and code); it puts them on a budget: at most
 * this many step requests per door length per BANNED_STEP_WINDOW_MS, i.e. two full walks
 * of the sequence a minute. Steps beyond it are ignored ("banned").
 */
export const BANNED_WALKS_PER_WINDOW = 2;
/** The window of a banned subject's step budget. */
export const BANNED_STEP_WINDOW_MS = 60_000;

/** Where a page of bans starts: after this ban in the listing order. */
export interface BanCursor {
  readonly until: number;
  readonly ip: string;
}

/** One page of live bans, soonest expiry first. */
export interface BanPage {
  readonly bans: BanRecord[];
  /** Hand back to get the next page; absent on the last page. */
  readonly next?: BanCursor;
}

/** Bans per page unless asked otherwise, and at most. */
export const BAN_PAGE_DEFAULT = 100;
export const BAN_PAGE_MAX = 1000;

/** The identity of a grant: at most one live grant exists per door and client IP. */
export const grantId = (door: string, ip: string): string => `${door} ${ip}`;

/**
 * Per-client knock state. Every operation is atomic (one Lua script in Redis),
 * every entry it writes expires by itself, and every method rejects with
 * StoreUnavailableError when the backing service cannot answer, so callers fail closed.
 */
export interface KnockStore {
  /** Human-readable kind for logs and health: "memory" or "redis". */
  readonly kind: "memory" | "redis";

  /**
   * Applies one knock step to the client's progress on a door; one round trip, which
   * also checks the client's ban: a banned client's steps count against its budget
   * (BANNED_WALKS_PER_WINDOW walks of the sequence per BANNED_STEP_WINDOW_MS); beyond
   * it the answer is "banned" and its progress is untouched.
   */
  advance(request: AdvanceRequest): Promise<AdvanceOutcome>;

  /**
   * Bans the client `ip` belongs to (its prefix, per limits.ipv4Prefix/ipv6Prefix; a
   * `network/length` subject is taken as is) for `ms` on every gateway sharing the
   * store. A ban never shortens an existing one: the later expiry (and its reason) wins.
   */
  ban(ip: string, ms: number, reason: string): Promise<void>;

  /** True while the client `ip` belongs to is banned. */
  isBanned(ip: string): Promise<boolean>;

  /**
   * One page of live bans, soonest expiry first (for the admin API): at most `limit`
   * (default BAN_PAGE_DEFAULT, capped at BAN_PAGE_MAX), starting after `cursor`. Costs
   * O(log n + limit), never a pass over every ban.
   */
  listBans(page?: { readonly cursor?: BanCursor; readonly limit?: number }): Promise<BanPage>;

  /** How many bans are live (for metrics); O(log n) in Redis. */
  countBans(): Promise<number>;

  /** Lifts the ban of the client `ip` belongs to at once; true if there was a live one. */
  unban(ip: string): Promise<boolean>;

  /**
   * True while a challenge issued to this door and IP is live and not yet taken. A read
   * that changes nothing: the edge asks it before reading a byte of a redemption's body,
   * so a POST without a live challenge is answered like any unknown path.
   */
  hasChallenge(door: string, ip: string): Promise<boolean>;

  /**
   * Consumes the challenge if, and only if, it is the live one of this door and IP.
   * Returns false (and leaves it untouched) for an unknown, expired, replaced or foreign token.
   */
  takeChallenge(token: string, door: string, ip: string): Promise<boolean>;

  /**
   * Records that `user` has used TOTP time step `timeStep`. Returns false when that
   * step, or a later one, was already used: the code is a replay. Atomic across
   * concurrent callers and gateways sharing the store.
   */
  claimTotpStep(user: string, timeStep: number, ttlMs: number): Promise<boolean>;

  /** Adds or replaces (refreshes) the grant for its door and IP. */
  putGrant(grant: GrantRecord): Promise<void>;

  /**
   * The recorded grant for a door and IP, if any, live or awaiting the sweeper (callers
   * compare `expiresAt` with their clock). One read (the tunnels ask it per connection).
   */
  getGrant(door: string, ip: string): Promise<GrantRecord | undefined>;

  /** Removes and returns the grant for a door and IP, if any (revoke). */
  removeGrant(door: string, ip: string): Promise<GrantRecord | undefined>;

  /** Every recorded grant, live or awaiting the sweeper, soonest expiry first. */
  listGrants(): Promise<GrantRecord[]>;

  /** Removes and returns grants whose expiry is at or before `now` (epoch ms), at most `limit`. */
  takeExpiredGrants(now: number, limit?: number): Promise<GrantRecord[]>;

  /** Resolves when the store answers; rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void>;

  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}

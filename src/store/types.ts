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
  /** The client IP is banned (a scanner): nothing was read or changed but the ban. */
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
  /** Stored under its token, bound to door and IP, if this step completes the sequence. */
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
}

/** A client IP whose knocks are ignored until `until` (epoch ms). */
export interface BanRecord {
  readonly ip: string;
  readonly until: number;
  /** Why, for the admin listing: "scanner", "admin", ... */
  readonly reason: string;
}

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
   * also checks the client's ban: a banned IP gets "banned" and its progress is untouched.
   */
  advance(request: AdvanceRequest): Promise<AdvanceOutcome>;

  /**
   * Bans an IP's knocks for `ms` on every gateway sharing the store. A ban never
   * shortens an existing one: the later expiry (and its reason) wins.
   */
  ban(ip: string, ms: number, reason: string): Promise<void>;

  /** True while the IP is banned. */
  isBanned(ip: string): Promise<boolean>;

  /** Live bans, soonest expiry first (for the admin API). */
  listBans(): Promise<BanRecord[]>;

  /** Lifts a ban at once; true if there was a live one. */
  unban(ip: string): Promise<boolean>;

  /**
   * True while the latest challenge issued to this door and IP is live and not yet taken.
   * A read that changes nothing: the edge asks it before reading a byte of a redemption's
   * body, so a POST without a live challenge is answered like any unknown path.
   */
  hasChallenge(door: string, ip: string): Promise<boolean>;

  /**
   * Consumes a challenge if, and only if, it is live and bound to this door and IP.
   * Returns false (and leaves it untouched) for an unknown, expired or foreign token.
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

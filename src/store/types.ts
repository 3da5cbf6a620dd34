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
  | "challenge";

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

/** A client IP refused everywhere until `until` (epoch ms); set by the defences. */
export interface BanRecord {
  readonly ip: string;
  /** Epoch milliseconds; the ban lifts by itself after this. */
  readonly until: number;
  /** Why, for operators (e.g. "failures"); never shown to the client. */
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

  /** Applies one knock step to the client's progress on a door; one round trip. */
  advance(request: AdvanceRequest): Promise<AdvanceOutcome>;

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

  /** Bans `ip` until `until` (epoch ms), replacing any earlier ban of it. */
  ban(ip: string, until: number, reason: string): Promise<void>;

  /** Every ban still in force, soonest lift first. */
  listBans(): Promise<BanRecord[]>;

  /** Lifts the ban on `ip` at once; true when there was one in force. */
  unban(ip: string): Promise<boolean>;

  /** Resolves when the store answers; rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void>;

  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}

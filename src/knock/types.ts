import type { DoorConfig } from "../config/types.js";
import type { HostState } from "../fleet/publisher.js";
import type { GrantRecord } from "../store/types.js";
import type { PasskeyDenyReason } from "./passkey-redeem.js";

/** The knock engine's vocabulary, shared by the engine, its helpers and the HTTP edge. */

/** Where a path sits in a door's sequence. */
export interface StepRef {
  readonly door: DoorConfig;
  readonly index: number;
  readonly last: boolean;
}

/** What a GET on a step path yields. */
export type StepResult =
  | { readonly kind: "decoy" }
  | {
      readonly kind: "challenge";
      readonly door: DoorConfig;
      readonly token: string;
      readonly expiresInSeconds: number;
    };

/** Why a redemption was refused; logged internally, never shown to the client. */
export type DenyReason =
  | "user-not-allowed"
  | "source-not-allowed"
  | "malformed-code"
  | "wrong-code"
  | "replay"
  | "locked"
  | PasskeyDenyReason;

/** What a POST to a last step yields. */
export type RedeemResult =
  | { readonly kind: "decoy" }
  | { readonly kind: "denied"; readonly reason: DenyReason }
  | {
      readonly kind: "granted";
      readonly grant: GrantRecord;
      /** Each host the door names, `open` or still `pending` after a bounded wait. */
      readonly hosts: Record<string, HostState>;
    };

/** What a client submits with the challenge form or JSON body. */
export interface Redemption {
  readonly challenge: unknown;
  readonly user: unknown;
  readonly code: unknown;
  /** A WebAuthn assertion (JSON text or object) instead of a code; see src/passkey. */
  readonly passkey?: unknown;
}

/**
 * Brute-force policy consulted around every code check (implemented in src/defences).
 * `check` resolves false while the user or IP is locked out. `user` is undefined when
 * the attempt must not count against any user: the name is not a member of the door,
 * or the caller is outside the user's `sources` (else anyone could lock a user out).
 */
export interface AttemptLimiter {
  /** True when the user (if accountable) and the IP may try a code now. */
  check(user: string | undefined, ip: string): Promise<boolean>;
  /** Counts a failed attempt against the IP, and against the user if accountable. */
  fail(user: string | undefined, ip: string): Promise<void>;
  /** Resets the user's consecutive failures after a success. */
  succeed(user: string, ip: string): Promise<void>;
}

/**
 * Optional listener for what the engine does (metrics); called synchronously after the
 * fact, so it must be cheap and must not throw. Nothing about a code or secret is passed.
 */
export interface KnockObserver {
  /** A step path was requested and reached the store (the outcome is not disclosed). */
  onStep?(door: string): void;
  /** A sequence was completed and a challenge issued. */
  onChallenge?(door: string): void;
  /** A redemption opened the door. */
  onGrant?(door: string): void;
  /** A redemption with a live challenge was refused. */
  onDenial?(door: string, reason: DenyReason): void;
}

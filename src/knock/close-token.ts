import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Close tokens: given out with a grant so its knocker (and only they) can close it early.
 * 256 random bits, far above the 128 a session id needs, so guessing is hopeless even
 * without a rate limit; base64url, 43 characters.
 */
const CLOSE_TOKEN_BYTES = 32;

/** Longer submissions are not tokens; they are refused before any hashing. */
export const MAX_CLOSE_TOKEN_LENGTH = 128;

/** A fresh close token. */
export function newCloseToken(): string {
  return randomBytes(CLOSE_TOKEN_BYTES).toString("base64url");
}

/** What the store keeps instead of the token: its SHA-256, hex. */
export function hashCloseToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * True when `token` is the one whose hash a grant holds. The digests are compared in
 * constant time (both are 32 bytes, whatever was submitted), so the comparison's timing
 * says nothing about how much of a guess was right.
 */
export function closeTokenMatches(hash: string | undefined, token: string): boolean {
  if (hash === undefined || !/^[0-9a-f]{64}$/.test(hash)) return false;
  const expected = Buffer.from(hash, "hex");
  const given = createHash("sha256").update(token).digest();
  return timingSafeEqual(expected, given);
}

import { generate, verify } from "otplib";

/** RFC 6238 defaults that every authenticator app uses. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Accept the previous step too (network delay, slow typing), never a future one. */
const TOLERANCE_SECONDS: [number, number] = [TOTP_PERIOD_SECONDS, 0];
/** A used step is remembered a little longer than it can be accepted. */
export const TOTP_REPLAY_TTL_MS = 3 * TOTP_PERIOD_SECONDS * 1000;

const CODE_FORMAT = /^[0-9]{6}$/;

/** True for exactly six ASCII digits; everything else is malformed (a 4xx, never a 5xx). */
export function isWellFormedCode(code: unknown): code is string {
  return typeof code === "string" && CODE_FORMAT.test(code);
}

/**
 * Verifies a six-digit code against a base32 secret at `epochMs`; returns the RFC 6238
 * time step that matched (for replay protection) or undefined.
 */
export async function verifyTotp(
  secret: string,
  code: string,
  epochMs: number,
): Promise<number | undefined> {
  if (!isWellFormedCode(code)) return undefined;
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(epochMs / 1000),
    epochTolerance: TOLERANCE_SECONDS,
  });
  return result.valid && "timeStep" in result ? result.timeStep : undefined;
}

/** The current code for a secret; used by the demo, the CLI client and tests. */
export function currentTotp(secret: string, epochMs: number): Promise<string> {
  return generate({ secret, epoch: Math.floor(epochMs / 1000) });
}

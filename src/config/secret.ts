import { ScureBase32Plugin } from "otplib";

/**
 * The one home of the TOTP secret rules: how base32 text is normalised, what a well-formed
 * secret is, and which well-formed secrets are still not secret.
 */

/** RFC 4648 base32 alphabet; otplib and authenticator apps use it unpadded. */
export const BASE32 = /^[A-Z2-7]+$/;
/** RFC 4226 requires at least 128 bits; 26 base32 characters carry 130. */
export const MIN_SECRET_CHARS = 26;
/**
 * The fixed secret of `webknock demo`, printed by the demo and in README: public, so it
 * is refused in every other config.
 */
export const DEMO_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

const base32 = new ScureBase32Plugin();

/**
 * Normalises base32 as people paste it: spaces and line breaks dropped (apps show groups
 * of four), upper case, padding removed.
 */
export function normalizeBase32(text: string): string {
  return text.replace(/\s+/g, "").toUpperCase().replace(/=+$/, "");
}

/**
 * Why a normalised secret is not a usable base32 secret of at least 128 bits, or undefined.
 * Never echoes the secret: it says only its length and what is wrong.
 */
export function malformedSecret(secret: string): string | undefined {
  const foreign = secret !== "" && !BASE32.test(secret);
  if (!foreign && secret.length >= MIN_SECRET_CHARS) return undefined;
  return `the secret must be base32 (A-Z, 2-7) of at least ${MIN_SECRET_CHARS} characters (128 bits); got ${secret.length} characters${foreign ? ", some outside base32" : ""}`;
}

/**
 * Why a well-formed secret must still not guard a door, or undefined: one repeated byte
 * (such as all A, all zero bits) or the public demo secret (allowed only where `allowDemo`).
 */
export function weakSecret(secret: string, allowDemo: boolean): string | undefined {
  if (!allowDemo && secret === DEMO_SECRET) {
    return "this is the public secret of 'webknock demo' and README, which anyone can use";
  }
  const bytes = base32.decode(secret);
  if (bytes.every((byte) => byte === bytes[0])) {
    return `the secret's ${bytes.length} bytes are all the same value, so it is guessable`;
  }
  return undefined;
}

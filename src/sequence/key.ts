import { randomBytes } from "node:crypto";
import { readPrivateFile, type ConfigSources } from "../config/sources.js";

/** HMAC-SHA256's own output size: a shorter key would be the weakest link of the derivation. */
export const MIN_KEY_BYTES = 32;
/** The key files `webknock door key` writes. */
export const KEY_BYTES = 32;

/** A fresh key as its file's text: 64 hex digits and a newline. */
export function newKeyText(): string {
  return `${randomBytes(KEY_BYTES).toString("hex")}\n`;
}

/**
 * Reads a sequence key file for the gateway and the client alike: readable by its owner
 * only (the config's rule for every secret file), hex, at least 256 bits. Pushes one
 * sentence per problem, starting with `key` (the config key or client option), and
 * returns undefined then. `fix` is the command that writes a good key.
 */
export function readKeyFile(
  key: string,
  path: string,
  sources: ConfigSources,
  problems: string[],
  fix: string,
): Buffer | undefined {
  const text = readPrivateFile(
    key,
    path,
    sources,
    problems,
    `create it with '${fix}' or fix the path`,
  );
  if (text === undefined) return undefined;
  const hex = text.trim();
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex) || hex.length < MIN_KEY_BYTES * 2) {
    // The value is a secret: say what is wrong with it, never echo it.
    problems.push(
      `${key}: ${path} must hold at least ${MIN_KEY_BYTES * 2} hex digits (${MIN_KEY_BYTES * 8} bits); got ${hex.length} characters${/^[0-9a-fA-F]*$/.test(hex) ? "" : " with characters outside 0-9a-f"}. Write a fresh key with '${fix}'`,
    );
    return undefined;
  }
  return Buffer.from(hex, "hex");
}

import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";

/** HMAC-SHA256's own output size: a shorter key would be the weakest link of the derivation. */
export const MIN_KEY_BYTES = 32;
/** The key files `webknock door key` writes. */
export const KEY_BYTES = 32;

/** What reading a key file needs from the outside world, injectable for tests. */
export interface KeyFileAccess {
  readonly readFile: (path: string) => string;
  /** The file's permission bits (stat's mode); throws like fs when the file is missing. */
  readonly fileMode?: (path: string) => number;
}

/** A key, or the sentence that says why the file cannot be used (without the key's value). */
export type KeyRead = { readonly key: Buffer } | { readonly problem: string };

/** A fresh key as its file's text: 64 hex digits and a newline. */
export function newKeyText(): string {
  return `${randomBytes(KEY_BYTES).toString("hex")}\n`;
}

/**
 * Reads a sequence key file: hex, at least 256 bits, readable by its owner only (0600 or
 * 0400), as ssh refuses a private key others can read. `fix` is the command that writes a
 * good key (`webknock door key api --force`).
 */
export function readKeyFile(path: string, access: KeyFileAccess, fix: string): KeyRead {
  let text: string;
  let mode: number;
  try {
    text = access.readFile(path);
    mode = (access.fileMode ?? ((p: string) => statSync(p).mode))(path) & 0o777;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    return { problem: `cannot read ${path} (${code}); create it with '${fix}' or fix the path` };
  }
  if ((mode & 0o077) !== 0) {
    return {
      problem: `${path} is mode 0${mode.toString(8)}, so other users can read the key; run 'chmod 600 ${path}'`,
    };
  }
  const hex = text.trim();
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex) || hex.length < MIN_KEY_BYTES * 2) {
    // The value is a secret: say what is wrong with it, never echo it.
    return {
      problem: `${path} must hold at least ${MIN_KEY_BYTES * 2} hex digits (${MIN_KEY_BYTES * 8} bits); got ${hex.length} characters${/^[0-9a-fA-F]*$/.test(hex) ? "" : " with characters outside 0-9a-f"}. Write a fresh key with '${fix}'`,
    };
  }
  return { key: Buffer.from(hex, "hex") };
}

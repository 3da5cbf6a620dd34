import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { CLOSE_TOKEN } from "../client/close.js";
import type { KnockGrant } from "../client/knock.js";
import { CliUsageError } from "./config-option.js";
import { ensurePrivateDir, writePrivate } from "./private-file.js";

/** The slot of a knock without `--profile`. */
const DEFAULT_SLOT = "default";

/**
 * Where `webknock knock` keeps the close token of the last grant of a profile (or of
 * knocks without one: `default`): `$XDG_STATE_HOME/webknock/close/SLOT.json`, else
 * `~/.local/state/webknock/close/SLOT.json`; the folder 0700, the file 0600. A profile
 * name that is not a plain file name is hex-encoded. Undefined when neither variable is
 * set: the token is then not kept (`--close --token` still works).
 */
export function closeTokenPath(
  env: NodeJS.ProcessEnv,
  profile: string | undefined,
): string | undefined {
  const base = env.XDG_STATE_HOME ?? (env.HOME ? join(env.HOME, ".local", "state") : undefined);
  if (base === undefined) return undefined;
  const slot = profile ?? DEFAULT_SLOT;
  const name = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/.test(slot)
    ? slot
    : `x-${Buffer.from(slot).toString("hex").slice(0, 120)}`;
  return join(base, "webknock", "close", `${name}.json`);
}

/**
 * Keeps a grant's close token (a later knock replaces it). The knock succeeded whatever
 * happens here, so a failure is a warning to print, never an error.
 */
export function saveCloseToken(path: string | undefined, grant: KnockGrant): string | undefined {
  if (path === undefined || grant.close === undefined) return undefined;
  const saved = { door: grant.door, ip: grant.ip, expiresAt: grant.expiresAt, ...grant.close };
  try {
    const warning = ensurePrivateDir(dirname(path), "XDG_STATE_HOME");
    writePrivate(path, `${JSON.stringify(saved)}\n`, true, "");
    return warning;
  } catch (error) {
    return `Warning: the close token was not saved: ${(error as Error).message} Close with --close --token instead.`;
  }
}

/** The token kept at `path`; a usage error naming the fix when there is none. */
export function readCloseToken(path: string | undefined): string {
  if (path === undefined)
    throw new CliUsageError(
      "No saved close token (neither HOME nor XDG_STATE_HOME is set): pass --token.",
    );
  let token: unknown;
  try {
    token = (JSON.parse(readFileSync(path, "utf8")) as { token?: unknown }).token;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliUsageError(
      code === "ENOENT"
        ? `No close token at ${path}: knock first (with the same --profile), or pass --token.`
        : `Cannot read the close token at ${path} (${code ?? "not JSON"}); knock again or pass --token.`,
    );
  }
  if (typeof token !== "string" || !CLOSE_TOKEN.test(token))
    throw new CliUsageError(`${path} holds no close token; knock again or pass --token.`);
  return token;
}

/** Forgets a spent token. */
export function dropCloseToken(path: string): void {
  rmSync(path, { force: true });
}

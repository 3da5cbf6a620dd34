import { randomBytes } from "node:crypto";
import { chmod, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { dirname, join, basename } from "node:path";

/**
 * The one home of a user's passkey file (`users.NAME.passkeys`): its format, how it is
 * read (refused when group or others may access it, like the secret files) and how it is
 * replaced (a private temporary file renamed over it, so a reader never sees half a file).
 */

/** One registered passkey: what verifying its assertions needs. */
export interface StoredCredential {
  /** The credential ID, base64url, as the browser reports it. */
  readonly id: string;
  /** The COSE public key, base64url. */
  readonly publicKey: string;
  /** The last signature counter seen; an assertion must carry a higher one (or both 0). */
  readonly counter: number;
  /** How the browser may reach the authenticator (`internal`, `hybrid`, `usb`...). */
  readonly transports: readonly string[];
  /** When it was enrolled, ISO 8601. */
  readonly createdAt: string;
}

/** The file's top-level marker, so a stray JSON file is never taken for one. */
const FORMAT = "webknock-passkeys";
/** More credentials than anyone enrolls; bounds the work of one lookup. */
export const MAX_CREDENTIALS = 100;
/** Group and other permission bits: refused, as ssh refuses a shared private key. */
const SHARED_BITS = 0o077;
const BASE64URL = /^[A-Za-z0-9_-]{1,1400}$/;
const TRANSPORT = /^[a-z-]{1,32}$/;

/** A passkey file that cannot be used; the message names the file, the problem and the fix. */
export class PasskeyFileError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = "PasskeyFileError";
  }
}

/**
 * Parses a passkey file's text; throws a plain Error saying what is wrong. An empty file
 * has no passkeys yet (an operator may create it ahead, with its owner and mode).
 */
export function parseCredentials(text: string): StoredCredential[] {
  if (text.trim() === "") return [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error("it is not JSON");
  }
  const record = data as { format?: unknown; credentials?: unknown };
  if (typeof data !== "object" || data === null || record.format !== FORMAT)
    throw new Error(`it is not a webknock passkey file (no "format": "${FORMAT}")`);
  if (!Array.isArray(record.credentials) || record.credentials.length > MAX_CREDENTIALS)
    throw new Error(`"credentials" must be a list of at most ${MAX_CREDENTIALS}`);
  return record.credentials.map((entry: unknown, index) => {
    const c = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
    const ok =
      typeof c.id === "string" &&
      BASE64URL.test(c.id) &&
      typeof c.publicKey === "string" &&
      BASE64URL.test(c.publicKey) &&
      Number.isSafeInteger(c.counter) &&
      (c.counter as number) >= 0 &&
      Array.isArray(c.transports) &&
      c.transports.every((t) => typeof t === "string" && TRANSPORT.test(t)) &&
      typeof c.createdAt === "string";
    if (!ok) throw new Error(`credentials[${index}] is malformed`);
    return {
      id: c.id as string,
      publicKey: c.publicKey as string,
      counter: c.counter as number,
      transports: c.transports as string[],
      createdAt: c.createdAt as string,
    };
  });
}

/** The file's text for a list of credentials. */
export function formatCredentials(credentials: readonly StoredCredential[]): string {
  return `${JSON.stringify({ format: FORMAT, credentials }, null, 2)}\n`;
}

/**
 * Reads a passkey file: none yet (ENOENT) is an empty list; a file group or others may
 * access, or one that does not parse, is a PasskeyFileError.
 */
export async function readCredentials(path: string): Promise<StoredCredential[]> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new PasskeyFileError(path, `cannot read ${path} (${errorCode(error)})`);
  }
  if ((mode & SHARED_BITS) !== 0)
    throw new PasskeyFileError(
      path,
      `${path} has mode 0${(mode & 0o777).toString(8)}, so group or others may read or change the passkeys; run chmod 600 ${path}`,
    );
  try {
    return parseCredentials(await readFile(path, "utf8"));
  } catch (error) {
    throw new PasskeyFileError(
      path,
      `${path}: ${(error as Error).message}; restore it or remove it and enroll again`,
    );
  }
}

/**
 * Replaces the file atomically: a new 0600 file in the same directory (so the rename
 * stays on one file system), flushed, then renamed over the old one. The directory must
 * be writable by whoever runs this (the gateway, for enrollment and counters).
 */
export async function writeCredentials(
  path: string,
  credentials: readonly StoredCredential[],
): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const owner = await stat(path).catch(() => undefined);
  const handle = await open(temp, "wx", 0o600);
  try {
    // The new file keeps the old one's owner, so `webknock user passkey remove` run as root
    // never leaves the gateway's user a file it cannot read. Only root may give a file
    // away; anyone else writes files they own already, so EPERM there changes nothing.
    if (owner !== undefined) await handle.chown(owner.uid, owner.gid).catch(() => undefined);
    await handle.writeFile(formatCredentials(credentials));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // The umask may have narrowed the mode further, never widened it; make it exact.
    await chmod(temp, 0o600);
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** Per-file queue: one read-modify-write at a time per path in this process. */
const queues = new Map<string, Promise<unknown>>();

/**
 * Reads, changes and writes a passkey file with no other change in between (in this
 * process). `change` returns the new list, or undefined to leave the file as it is.
 */
export function updateCredentials<T>(
  path: string,
  change: (credentials: StoredCredential[]) => { next?: StoredCredential[]; result: T },
): Promise<T> {
  const run = (queues.get(path) ?? Promise.resolve()).then(async () => {
    const { next, result } = change(await readCredentials(path));
    if (next !== undefined) await writeCredentials(path, next);
    return result;
  });
  const tail = run.catch(() => undefined);
  queues.set(path, tail);
  void tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return run;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? "error";
}

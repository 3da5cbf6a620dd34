import type { Redis } from "ioredis";
import { systemClock, type Clock } from "../clock.js";
import { StoreUnavailableError } from "../errors.js";

/** One pending passkey enrollment: a random URL path that registers one passkey for a user. */
export interface Enrollment {
  /** The random path segment (the URL is `server.origin/TOKEN`); a bearer secret. */
  readonly token: string;
  readonly user: string;
  /** Epoch ms; after this the path is the decoy again. */
  readonly expiresAt: number;
}

/** How long an enrollment URL stays valid (issue 14: 10 minutes). */
export const ENROLLMENT_TTL_MS = 10 * 60_000;
/** 32 base64url characters: 192 random bits. */
export const ENROLLMENT_TOKEN = /^[A-Za-z0-9_-]{32}$/;
/** More pending enrollments than an operator makes; bounds what the gateway polls. */
const MAX_PENDING = 1000;

/**
 * Pending enrollments, kept where the knock state is, so the CLI can create one that the
 * running gateway serves. Every method rejects with StoreUnavailableError when the
 * backing service cannot answer.
 */
export interface EnrollmentStore {
  /** Adds a pending enrollment (the CLI). */
  put(enrollment: Enrollment): Promise<void>;
  /** Every live pending enrollment (the gateway polls this; expired ones are dropped). */
  list(): Promise<Enrollment[]>;
  /**
   * Removes and returns the enrollment if it is live; undefined if unknown, expired or
   * already taken. Atomic: of concurrent takers (on any gateway) exactly one gets it.
   */
  take(token: string): Promise<Enrollment | undefined>;
}

/** In this process: only a gateway in the same process sees them (tests, `webknock demo`). */
export class MemoryEnrollments implements EnrollmentStore {
  private readonly pending = new Map<string, Enrollment>();
  constructor(private readonly now: Clock = systemClock) {}

  put(enrollment: Enrollment): Promise<void> {
    this.drop();
    if (this.pending.size >= MAX_PENDING)
      return Promise.reject(new Error(`more than ${MAX_PENDING} pending enrollments`));
    this.pending.set(enrollment.token, { ...enrollment });
    return Promise.resolve();
  }

  list(): Promise<Enrollment[]> {
    this.drop();
    return Promise.resolve([...this.pending.values()]);
  }

  take(token: string): Promise<Enrollment | undefined> {
    const found = this.pending.get(token);
    this.pending.delete(token);
    return Promise.resolve(found !== undefined && found.expiresAt > this.now() ? found : undefined);
  }

  private drop(): void {
    const now = this.now();
    for (const [token, e] of this.pending) if (e.expiresAt <= now) this.pending.delete(token);
  }
}

/**
 * In Redis: one hash (token -> JSON) under `key`, shared by every gateway and the CLI.
 * A take is HGET and HDEL in one MULTI, so only the caller whose HDEL removed the field
 * has taken it. The hash's TTL follows the latest enrollment, so it never lingers.
 */
export class RedisEnrollments implements EnrollmentStore {
  constructor(
    private readonly client: Redis,
    private readonly key: string,
    private readonly now: Clock = systemClock,
  ) {}

  async put(enrollment: Enrollment): Promise<void> {
    const ttl = Math.max(1, enrollment.expiresAt - this.now());
    await this.client
      .multi()
      .hset(this.key, enrollment.token, JSON.stringify(enrollment))
      .pexpire(this.key, ttl, "GT")
      .pexpire(this.key, ttl, "NX")
      .exec()
      .then(checkExec, unavailable);
  }

  async list(): Promise<Enrollment[]> {
    const all = await this.client.hgetall(this.key).catch(unavailable);
    const now = this.now();
    const live: Enrollment[] = [];
    const dead: string[] = [];
    for (const [token, json] of Object.entries(all).slice(0, MAX_PENDING)) {
      const e = parse(json);
      if (e !== undefined && e.expiresAt > now) live.push(e);
      else dead.push(token);
    }
    if (dead.length > 0) await this.client.hdel(this.key, ...dead).catch(unavailable);
    return live;
  }

  async take(token: string): Promise<Enrollment | undefined> {
    const replies = await this.client
      .multi()
      .hget(this.key, token)
      .hdel(this.key, token)
      .exec()
      .then(checkExec, unavailable);
    const [json, removed] = replies.map(([, value]) => value);
    if (removed !== 1 || typeof json !== "string") return undefined;
    const e = parse(json);
    return e !== undefined && e.expiresAt > this.now() ? e : undefined;
  }
}

type ExecReply = [error: Error | null, result: unknown][] | null;

/** A MULTI's replies, or StoreUnavailableError when it was aborted or a command failed. */
function checkExec(replies: ExecReply): [Error | null, unknown][] {
  if (replies === null) throw new StoreUnavailableError(new Error("MULTI was aborted"));
  for (const [error] of replies) if (error) throw new StoreUnavailableError(error);
  return replies;
}

function unavailable(error: unknown): never {
  throw new StoreUnavailableError(error);
}

function parse(json: string): Enrollment | undefined {
  try {
    const e = JSON.parse(json) as Partial<Enrollment>;
    return typeof e.token === "string" &&
      typeof e.user === "string" &&
      typeof e.expiresAt === "number"
      ? { token: e.token, user: e.user, expiresAt: e.expiresAt }
      : undefined;
  } catch {
    return undefined;
  }
}

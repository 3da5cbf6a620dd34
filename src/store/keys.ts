/**
 * Every Redis key webknock writes, built in one place. Keys that a script touches
 * together share a hash tag (the part in braces), so each script's keys fall in one
 * slot and run on a Redis Cluster:
 * - per client: progress, challenge and ban keys are tagged with the client's subject
 *   (its address, or its network when limits group addresses by prefix), so the
 *   knock-step script reads the ban and writes the progress in one slot;
 * - the ban index (sorted set and reasons hash) is tagged `{bans}`;
 * - the grant hash and expiry sorted set are tagged `{grants}`.
 * Single-key commands (TOTP replay marks, rate-limiter counters) need no tag.
 */
export interface RedisKeys {
  /** The namespace every key starts with (`store.keyPrefix`). */
  readonly prefix: string;
  /** A client's progress through a door's sequence. */
  progress(subject: string, door: string, ip: string): string;
  /** The live challenge token of a client on a door (one per door and IP). */
  challenge(subject: string, door: string, ip: string): string;
  /** A banned subject's marker; its TTL is the ban. */
  ban(subject: string): string;
  /** Steps a banned subject took in the current budget window. */
  bannedSteps(subject: string): string;
  /** Sorted set subject -> ban expiry (epoch ms), for counting and paging bans. */
  readonly banIndex: string;
  /** Hash subject -> ban reason, beside the index. */
  readonly banReasons: string;
  /** The last TOTP time step a user claimed. */
  totp(user: string): string;
  /** Hash grant id -> grant JSON. */
  readonly grants: string;
  /** Sorted set grant id -> expiry (epoch ms). */
  readonly grantExpiry: string;
  /** Prefix of one rate-limiter-flexible counter family (it appends `:key`). */
  limiter(name: string): string;
  /** Hash token -> pending passkey enrollment JSON (src/passkey/enrollments.ts). */
  readonly enrollments: string;
}

/** Builds the key set for a namespace; braces in a subject cannot occur (IPs and CIDRs). */
export function redisKeys(prefix: string): RedisKeys {
  const client = (subject: string) => `${prefix}{${subject}}:`;
  return Object.freeze({
    prefix,
    progress: (subject: string, door: string, ip: string) => `${client(subject)}p:${door}:${ip}`,
    challenge: (subject: string, door: string, ip: string) => `${client(subject)}c:${door}:${ip}`,
    ban: (subject: string) => `${client(subject)}b`,
    bannedSteps: (subject: string) => `${client(subject)}bs`,
    banIndex: `${prefix}{bans}:index`,
    banReasons: `${prefix}{bans}:reasons`,
    totp: (user: string) => `${prefix}t:${user}`,
    grants: `${prefix}{grants}:records`,
    grantExpiry: `${prefix}{grants}:expiry`,
    limiter: (name: string) => `${prefix}rl:${name}`,
    enrollments: `${prefix}enroll`,
  });
}

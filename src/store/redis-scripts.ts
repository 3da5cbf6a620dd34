import type { RedisClient } from "./redis-client.js";

/**
 * Lua scripts run atomically inside Redis, registered once with ioredis `defineCommand`
 * (EVALSHA after the first call). Every key is passed in KEYS and every write sets a TTL.
 */

/**
 * KEYS[1] progress key, KEYS[2] the door and IP's challenge key, KEYS[3] the client's ban
 * key, KEYS[4] its banned-step budget counter (all four share the client's hash tag).
 * ARGV: step, length, sequenceTimeoutMs, challengeTtlMs, challenge token, budget window
 * ms, budget steps. A new challenge replaces the door and IP's previous one.
 * Returns 0 progress, 1 repeat, 2 reset, 3 challenge, 4 banned. Mirrors MemoryStore.advanceNow.
 * The ban check lives here so a knock step stays one round trip.
 */
export const ADVANCE_SCRIPT = `
if redis.call('EXISTS', KEYS[3]) == 1 then
  local used = redis.call('INCR', KEYS[4])
  if used == 1 then
    redis.call('PEXPIRE', KEYS[4], ARGV[6])
  end
  if used > tonumber(ARGV[7]) then
    return 4
  end
end
local step = tonumber(ARGV[1])
local len = tonumber(ARGV[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if step == cur then
  if step == 0 then
    redis.call('SET', KEYS[1], 1, 'PX', ARGV[3])
  else
    redis.call('SET', KEYS[1], step + 1, 'KEEPTTL')
  end
  if step + 1 == len then
    redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[4])
    return 3
  end
  return 0
end
if step + 1 == cur then
  if cur == len then
    redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[4])
    return 3
  end
  return 1
end
if step == 0 then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 2
`;

/** KEYS[1] the door and IP's challenge key; ARGV[1] token. Deletes and returns 1 only on a match. */
export const TAKE_CHALLENGE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** KEYS[1] last-used-step key; ARGV: timeStep, ttlMs. Returns 1 if claimed, 0 on replay. */
export const CLAIM_TOTP_SCRIPT = `
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/**
 * KEYS[1] grants hash, KEYS[2] expiry zset. ARGV: id, json, expiresAt, keepUntil (epoch ms), now.
 * Both collections expire at the latest keepUntil they have seen, so nothing lives forever.
 */
export const PUT_GRANT_SCRIPT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local keep = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
for i = 1, 2 do
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 or now + ttl < keep then
    redis.call('PEXPIREAT', KEYS[i], keep)
  end
end
return 1
`;

/**
 * KEYS[1] grants hash, KEYS[2] expiry zset; ARGV[1] id, ARGV[2] close hash or "" (any).
 * Returns the removed JSON, or false when there is none or it carries another close hash.
 */
export const REMOVE_GRANT_SCRIPT = `
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then
  return false
end
if ARGV[2] ~= '' and cjson.decode(json).closeHash ~= ARGV[2] then
  return false
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return json
`;

/** KEYS[1] grants hash, KEYS[2] expiry zset; ARGV: now, limit. Returns removed JSON records. */
export const TAKE_EXPIRED_SCRIPT = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local json = redis.call('HGET', KEYS[1], id)
  if json then
    out[#out + 1] = json
  end
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return out
`;

/**
 * KEYS[1] the client's ban key; ARGV: until (epoch ms), reason. Keeps the later of an
 * existing and the new expiry; returns 1 when this ban was written, 0 when a longer one
 * stands. Index bookkeeping is INDEX_BAN_SCRIPT's, in the {bans} slot.
 */
export const BAN_SCRIPT = `
local old = redis.call('PEXPIRETIME', KEYS[1])
if old > 0 and old >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[1])
return 1
`;

/**
 * KEYS[1] ban index (zset subject -> until), KEYS[2] reasons hash (both tagged {bans}).
 * ARGV: subject, until, reason, now, trim batch. Records the ban (a later expiry wins),
 * drops at most a batch of expired entries (each entry is dropped once, so the cost per
 * ban stays bounded however many there are), and lets both keys expire with the last ban.
 */
export const INDEX_BAN_SCRIPT = `
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local expired = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[4], 'BYSCORE', 'LIMIT', 0, ARGV[5])
if #expired > 0 then
  redis.call('ZREM', KEYS[1], unpack(expired))
  redis.call('HDEL', KEYS[2], unpack(expired))
end
local expiry = tonumber(ARGV[2])
for i = 1, 2 do
  if redis.call('PEXPIRETIME', KEYS[i]) < expiry then
    redis.call('PEXPIREAT', KEYS[i], expiry)
  end
end
return 1
`;

/**
 * KEYS[1] ban index, KEYS[2] reasons hash. ARGV: now, limit, cursor until, cursor subject
 * ('' for the first page). Returns {subject, until, reason, ...}: live bans (until > now)
 * soonest first, starting after the cursor. O(log n + limit): ranks, never a scan.
 */
export const LIST_BANS_SCRIPT = `
local first = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1])
local start = first
if ARGV[4] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[4])
  if score and tonumber(score) == tonumber(ARGV[3]) then
    start = redis.call('ZRANK', KEYS[1], ARGV[4]) + 1
  else
    start = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[3])
  end
  if start < first then
    start = first
  end
end
local rows = redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], rows[i]) or ''
end
return out
`;

/** KEYS[1] the client's ban key, KEYS[2] its budget counter. Returns 1 if a live ban was lifted. */
export const UNBAN_SCRIPT = `
redis.call('DEL', KEYS[2])
return redis.call('DEL', KEYS[1])
`;

/** KEYS[1] ban index, KEYS[2] reasons hash; ARGV[1] subject. Forgets the subject's entry. */
export const UNINDEX_BAN_SCRIPT = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

/** The commands `registerScripts` adds to a client; every key is passed, none built in Lua. */
export type ScriptedRedis = RedisClient & ScriptCommands;

/** The script commands, typed. */
interface ScriptCommands {
  wkAdvance(
    progressKey: string,
    challengeKey: string,
    banKey: string,
    bannedStepsKey: string,
    ...argv: (string | number)[]
  ): Promise<number>;
  wkBan(banKey: string, until: number, reason: string): Promise<number>;
  wkIndexBan(index: string, reasons: string, ...argv: (string | number)[]): Promise<number>;
  wkListBans(index: string, reasons: string, ...argv: (string | number)[]): Promise<string[]>;
  wkUnban(banKey: string, bannedStepsKey: string): Promise<number>;
  wkUnindexBan(index: string, reasons: string, subject: string): Promise<number>;
  wkTakeChallenge(key: string, token: string): Promise<number>;
  wkClaimTotp(key: string, step: number, ttlMs: number): Promise<number>;
  wkPutGrant(hash: string, zset: string, ...argv: (string | number)[]): Promise<number>;
  wkRemoveGrant(hash: string, zset: string, id: string, closeHash: string): Promise<string | null>;
  wkTakeExpired(hash: string, zset: string, now: number, limit: number): Promise<string[]>;
}

/** Registers every script once (EVALSHA after the first call) and returns the typed client. */
export function registerScripts(client: RedisClient): ScriptedRedis {
  const scripts: [string, number, string][] = [
    ["wkAdvance", 4, ADVANCE_SCRIPT],
    ["wkBan", 1, BAN_SCRIPT],
    ["wkIndexBan", 2, INDEX_BAN_SCRIPT],
    ["wkListBans", 2, LIST_BANS_SCRIPT],
    ["wkUnban", 2, UNBAN_SCRIPT],
    ["wkUnindexBan", 2, UNINDEX_BAN_SCRIPT],
    ["wkTakeChallenge", 1, TAKE_CHALLENGE_SCRIPT],
    ["wkClaimTotp", 1, CLAIM_TOTP_SCRIPT],
    ["wkPutGrant", 2, PUT_GRANT_SCRIPT],
    ["wkRemoveGrant", 2, REMOVE_GRANT_SCRIPT],
    ["wkTakeExpired", 2, TAKE_EXPIRED_SCRIPT],
  ];
  for (const [name, numberOfKeys, lua] of scripts)
    client.defineCommand(name, { numberOfKeys, lua });
  return client as ScriptedRedis;
}

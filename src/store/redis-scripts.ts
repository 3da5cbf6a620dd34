/**
 * Lua scripts run atomically inside Redis, registered once with ioredis `defineCommand`
 * (EVALSHA after the first call). Every key is passed in KEYS and every write sets a TTL.
 */

/**
 * KEYS[1] progress key, KEYS[2] challenge key, KEYS[3] the IP's ban key, KEYS[4] the door
 * and IP's latest-challenge key.
 * ARGV: step, length, sequenceTimeoutMs, challengeTtlMs, binding ("door ip"), token.
 * Returns 0 progress, 1 repeat, 2 reset, 3 challenge, 4 banned. Mirrors MemoryStore.advanceNow.
 * The ban check lives here so a knock step stays one round trip.
 */
export const ADVANCE_SCRIPT = `
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 4
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
    redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[4])
    return 3
  end
  return 0
end
if step + 1 == cur then
  if cur == len then
    redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[4])
    redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[4])
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

/**
 * KEYS[1] challenge key, KEYS[2] the door and IP's latest-challenge key; ARGV[1] expected
 * binding, ARGV[2] the token. Deletes and returns 1 only on a match; the latest-challenge
 * key goes too when it names this token.
 */
export const TAKE_CHALLENGE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('GET', KEYS[2]) == ARGV[2] then
    redis.call('DEL', KEYS[2])
  end
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

/** KEYS[1] grants hash, KEYS[2] expiry zset; ARGV[1] id. Returns the removed JSON or false. */
export const REMOVE_GRANT_SCRIPT = `
local json = redis.call('HGET', KEYS[1], ARGV[1])
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
 * KEYS[1] the IP's ban key, KEYS[2] ban index (zset ip -> until).
 * ARGV: ip, until (epoch ms), reason, now. Keeps the later of an existing and the new expiry;
 * drops expired index entries, and the index expires with its last ban.
 */
export const BAN_SCRIPT = `
local old = redis.call('ZSCORE', KEYS[2], ARGV[1])
if old and redis.call('EXISTS', KEYS[1]) == 1 and tonumber(old) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])
return 1
`;

/** KEYS[1] ban index; ARGV: now, key prefix of ban keys. Returns {ip, until, reason, ...}. */
export const LIST_BANS_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local rows = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #rows, 2 do
  local reason = redis.call('GET', ARGV[2] .. rows[i])
  if reason then
    out[#out + 1] = rows[i]
    out[#out + 1] = rows[i + 1]
    out[#out + 1] = reason
  end
end
return out
`;

/** KEYS[1] the IP's ban key, KEYS[2] ban index; ARGV[1] ip. Returns 1 if a live ban was lifted. */
export const UNBAN_SCRIPT = `
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
`;

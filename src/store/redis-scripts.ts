/**
 * Lua scripts run atomically inside Redis, registered once with ioredis `defineCommand`
 * (EVALSHA after the first call). Every key is passed in KEYS and every write sets a TTL.
 */

/**
 * KEYS[1] progress key, KEYS[2] challenge key.
 * ARGV: step, length, sequenceTimeoutMs, challengeTtlMs, binding ("door ip").
 * Returns 0 progress, 1 repeat, 2 reset, 3 challenge. Mirrors MemoryStore.advanceNow.
 */
export const ADVANCE_SCRIPT = `
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

/** KEYS[1] challenge key; ARGV[1] expected binding. Deletes and returns 1 only on a match. */
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
 * KEYS[1] bans hash (ip -> JSON), KEYS[2] lift-time zset; ARGV: ip, json, until (epoch ms).
 * Both collections expire at the latest lift time they have seen, so nothing lives forever.
 */
export const BAN_SCRIPT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local keep = tonumber(ARGV[3])
for i = 1, 2 do
  local at = redis.call('PEXPIRETIME', KEYS[i])
  if at < keep then
    redis.call('PEXPIREAT', KEYS[i], keep)
  end
end
return 1
`;

/** KEYS[1] bans hash, KEYS[2] lift-time zset; ARGV[1] now. Drops lifted bans, returns the rest. */
export const LIST_BANS_SCRIPT = `
local lifted = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, ip in ipairs(lifted) do
  redis.call('HDEL', KEYS[1], ip)
  redis.call('ZREM', KEYS[2], ip)
end
return redis.call('HVALS', KEYS[1])
`;

/** KEYS[1] bans hash, KEYS[2] lift-time zset; ARGV: ip, now. Returns 1 if a ban was in force. */
export const UNBAN_SCRIPT = `
local lift = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0')
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if lift > tonumber(ARGV[2]) then
  return 1
end
return 0
`;

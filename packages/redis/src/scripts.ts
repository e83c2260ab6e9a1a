/**
 * The Lua scripts of `redisSync`, each one atomic on the Redis node that holds its breaker's
 * keys (every key and channel of one breaker carries the same hash tag, so they share a Redis
 * Cluster slot). Times come from the server's `TIME`, so instances whose clocks disagree still
 * agree on when an open period ends.
 */
import { createHash } from 'node:crypto';

/** A script and its SHA1, for EVALSHA with a fallback to EVAL on NOSCRIPT. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** The stored transition as [epoch, origin, state, openAttempt, lastOpenDuration, remaining]. */
const READ_STATE = `local s = redis.call('HMGET', KEYS[1], 'epoch', 'origin', 'state', 'openAttempt', 'lastOpenDuration', 'until')
if not s[1] then return false end
local remaining = math.max(0, tonumber(s[6]) - now)
return {s[1], s[2], s[3], s[4], s[5], tostring(remaining)}`;

/**
 * Stores a transition if it is newer (by epoch, then origin) than the stored one and publishes
 * it (ARGV[8], the message as JSON) on the breaker's shard channel; otherwise returns the stored
 * one, which beat it.
 * KEYS[1] state hash. ARGV: epoch, origin, state, openAttempt, lastOpenDuration,
 * remainingOpenMs, ttlMs, message, channel.
 */
export const PUBLISH_TRANSITION = script(`${NOW}
-- Byte order, like JavaScript's on the ASCII ids: Lua's own string order follows the locale.
local function after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'origin')
local epoch = tonumber(ARGV[1])
local stored = tonumber(cur[1])
if stored == nil or epoch > stored or (epoch == stored and after(ARGV[2], cur[2])) then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'origin', ARGV[2], 'state', ARGV[3],
    'openAttempt', ARGV[4], 'lastOpenDuration', ARGV[5], 'until', tostring(now + tonumber(ARGV[6])))
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  redis.call('SPUBLISH', ARGV[9], ARGV[8])
  return false
end
${READ_STATE}`);

/** The stored transition, with its time left open as of now. KEYS[1] state hash. */
export const READ_TRANSITION = script(`${NOW}
${READ_STATE}`);

/**
 * Takes the half-open trial lease of one epoch: SET NX PX, so one instance per open period.
 * Returns [1, 0] when taken, [0, ms the holder keeps it] when not.
 * KEYS[1] lease key. ARGV: origin, ttlMs.
 */
export const TAKE_LEASE =
  script(`if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0} end
if redis.call('GET', KEYS[1]) == ARGV[1] then return {1, 0} end
return {0, redis.call('PTTL', KEYS[1])}`);

/**
 * Gives back the half-open trial lease of one epoch, only if `origin` holds it: a compare and
 * delete, so a late release (the lease ran out and another instance took it) deletes nothing.
 * Returns 1 when given back, 0 when not held by `origin`.
 * KEYS[1] lease key. ARGV: origin.
 */
export const RELEASE_LEASE = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`);

/**
 * Flush-and-read of outcome counts: raises this instance's cumulative counts (field, count
 * pairs from ARGV[5]) where they grew, renews the TTL, and returns every instance's counts as a
 * flat [field, count, …] list. With ARGV[3] = '1' (a failure, sent at once) it also publishes
 * them all as a counts message, so every instance judges the failure with the fleet's totals.
 * KEYS[1] counts hash of the epoch. ARGV: ttlMs, channel, urgent, message head JSON, pairs….
 */
export const FLUSH_COUNTS = script(`for i = 5, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > current then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
if ARGV[3] == '1' then
  local counts = {}
  for i = 1, #all, 2 do counts[all[i]] = tonumber(all[i + 1]) end
  local message = cjson.decode(ARGV[4])
  message['counts'] = counts
  redis.call('SPUBLISH', ARGV[2], cjson.encode(message))
end
return all`);

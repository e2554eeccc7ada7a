"""The Lua scripts of :mod:`sinch_async.redis`, each run atomically by the Redis server
(registered once per client, then called by SHA)."""

from __future__ import annotations

__all__ = [
    "APPEND_CHUNK",
    "BOOK",
    "MAX_INVALID_KEPT",
    "RATE_LIMITED",
    "RECORD_OUTCOME",
    "SETTLE_OUTCOME",
]

MAX_INVALID_KEPT = 100_000
"""Invalid rows of a campaign kept with their value and reason (all are counted)."""

# --- RedisRateLimiter ---------------------------------------------------------------------------

# KEYS[1]: the limiter's hash. ARGV: request rate (0: none), request burst, message rate
# (0: none), message burst, successes reported since the last booking, idle expiry (ms),
# then the weight of each request to book, in order. Times in ms on the server clock, stored
# with microsecond precision. Returns {the server's now in ms, the throttled request rate in
# milli-requests/s (0: none), then the wait of each request in µs}.
BOOK = """
local key = KEYS[1]
local req_rate = tonumber(ARGV[1])
local req_burst = tonumber(ARGV[2])
local msg_rate = tonumber(ARGV[3])
local msg_burst = tonumber(ARGV[4])
local successes = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local s = redis.call('HMGET', key,
  'tat_r', 'tat_m', 'cool', 'thr', 'ceil', 'succ', 'win', 'cnt', 'prev')
local tat_r = tonumber(s[1]) or 0
local tat_m = tonumber(s[2]) or 0
local cool = tonumber(s[3]) or 0
local thr = tonumber(s[4])
local ceil = tonumber(s[5]) or 0
local succ = tonumber(s[6]) or 0
if thr and successes > 0 then
  succ = succ + successes
  if succ >= math.max(5, math.floor(thr)) then
    succ = 0
    thr = thr * 1.25
    if thr >= ceil then thr = nil end
  end
end
local rate = req_rate
local burst = req_burst
if thr and (rate == 0 or thr < rate) then
  rate = thr
  burst = 1
end
local result = {0, 0}
local last = now
for i = 7, #ARGV do
  local weight = tonumber(ARGV[i])
  local start = math.max(now, cool)
  if msg_rate > 0 and weight > 0 then
    local cell = 1000 / msg_rate
    tat_m = math.max(tat_m, start) + weight * cell
    start = math.max(start, tat_m - msg_burst * cell)
  end
  if rate > 0 then
    local cell = 1000 / rate
    tat_r = math.max(tat_r, start) + cell
    start = math.max(start, tat_r - burst * cell)
  end
  result[#result + 1] = math.floor((start - now) * 1000)
  last = math.max(last, start)
end
local win = tonumber(s[7]) or now
local cnt = tonumber(s[8]) or 0
local prev = tonumber(s[9]) or 0
if now - win >= 1000 then
  if now - win < 2000 then prev = cnt else prev = 0 end
  win = now
  cnt = 0
end
cnt = cnt + #ARGV - 6
local f = '%.3f'
redis.call('HSET', key, 'tat_r', string.format(f, tat_r), 'tat_m', string.format(f, tat_m),
  'succ', succ, 'win', string.format(f, win), 'cnt', cnt, 'prev', prev)
if thr then
  redis.call('HSET', key, 'thr', string.format('%.6f', thr))
else
  redis.call('HDEL', key, 'thr')
end
redis.call('PEXPIRE', key, math.max(tonumber(ARGV[6]), math.ceil(last - now) + 1000))
result[1] = math.floor(now)
result[2] = math.floor((thr or 0) * 1000)
return result
"""

# KEYS[1]: the hash. ARGV: pause (ms), when the request was sent (server ms; -1: unknown),
# request rate (0: none), adaptive (1/0), idle expiry (ms). Returns the cool-down left (ms).
RATE_LIMITED = """
local key = KEYS[1]
local pause = tonumber(ARGV[1])
local sent_at = tonumber(ARGV[2])
local req_rate = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local s = redis.call('HMGET', key, 'cool', 'thr', 'ceil', 'lastdec', 'prev')
local cool = math.max(tonumber(s[1]) or 0, now + pause)
redis.call('HSET', key, 'cool', string.format('%.3f', cool), 'succ', 0)
if ARGV[4] == '1' then
  if sent_at < 0 then sent_at = now end
  if sent_at >= (tonumber(s[4]) or -1) then
    local current = tonumber(s[2])
    local ceil = tonumber(s[3]) or 0
    if not current then
      if req_rate > 0 then
        current = req_rate
        ceil = req_rate
      else
        current = math.max(tonumber(s[5]) or 0, 2)
        ceil = current * 2
      end
    end
    redis.call('HSET', key, 'thr', string.format('%.6f', math.max(current / 2, 0.5)),
      'ceil', ceil, 'lastdec', string.format('%.3f', now))
  end
end
redis.call('PEXPIRE', key, math.max(tonumber(ARGV[5]), math.ceil(cool - now) + 1000))
return math.floor(cool - now)
"""

# --- RedisCampaign ------------------------------------------------------------------------------

# KEYS: state, chunks, data, invalid. ARGV: index, read, valid, duplicates, invalid total,
# the ordinal of the first invalid row given, the chunk's recipients (JSON, "" at the end of
# the input), then the invalid rows (JSON). Appends chunk ``index`` only if it is the next one;
# stores the counters as of the end of that chunk and the invalid rows not stored yet.
# Returns the chunks enqueued, or -1 once the campaign is cancelled (nothing appended).
APPEND_CHUNK = """
if redis.call('HGET', KEYS[1], 'cancelled') then return -1 end
local enqueued = tonumber(redis.call('HGET', KEYS[1], 'enqueued') or '0')
local index = tonumber(ARGV[1])
if ARGV[7] ~= '' then
  if index ~= enqueued then return enqueued end
  redis.call('HSET', KEYS[3], index, ARGV[7])
  redis.call('XADD', KEYS[2], '*', 'i', index)
  enqueued = index + 1
else
  redis.call('HSET', KEYS[1], 'enqueue_done', 1)
end
local have = tonumber(redis.call('HGET', KEYS[1], 'invalid') or '0')
local first = tonumber(ARGV[6])
for j = 8, #ARGV do
  local ordinal = first + j - 8
  if ordinal > have and ordinal <= MAX_INVALID_KEPT then
    redis.call('RPUSH', KEYS[4], ARGV[j])
  end
end
redis.call('HSET', KEYS[1], 'enqueued', enqueued, 'read', ARGV[2], 'valid', ARGV[3],
  'duplicates', ARGV[4], 'invalid', math.max(have, tonumber(ARGV[5])))
return enqueued
""".replace("MAX_INVALID_KEPT", str(MAX_INVALID_KEPT))

# KEYS: state, results, data. ARGV: index, the result (JSON), its status, recipients.
# Records a chunk's outcome once, with the totals; 1 if recorded now, 0 if it already was.
RECORD_OUTCOME = """
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
local count = tonumber(ARGV[4])
local status = ARGV[3]
if status == 'created' or status == 'existing' then
  redis.call('HINCRBY', KEYS[1], 'sent', count)
else
  redis.call('HINCRBY', KEYS[1], status, count)
end
redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
if status ~= 'failed' and status ~= 'unknown' then redis.call('HDEL', KEYS[3], ARGV[1]) end
return 1
"""

# KEYS: state, results, checked, data. ARGV: index, the outcome now (JSON), its status, recipients,
# the status it replaces. After the end-of-campaign lookup of an ambiguous chunk: a failed or
# unknown chunk that Sinch has after all counts as sent (once); the chunk is marked checked.
SETTLE_OUTCOME = """
if redis.call('HSETNX', KEYS[3], ARGV[1], 1) == 0 then return 0 end
if ARGV[3] == ARGV[5] then return 1 end
local count = tonumber(ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], ARGV[5], -count)
redis.call('HINCRBY', KEYS[1], 'sent', count)
return 1
"""

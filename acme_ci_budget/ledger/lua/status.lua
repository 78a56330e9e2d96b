-- status.lua: what `status` shows, in one round trip, with expired holds purged first so that a
-- crashed worker's hold is never shown (or counted by the router's pressure) as held.
--
-- KEYS[1] holds ZSET   KEYS[2] events STREAM   KEYS[3] stats HASH of the month
-- KEYS[4..] counters to read (spent / held, any period)
-- ARGV[1] now (ms, from the ledger's clock)   ARGV[2] key prefix   ARGV[3] event retention (ms)
-- ARGV[4] marker retention (ms)               ARGV[5] '1': also the whole stats hash, '0': not
-- ARGV[6..] stats fields to read
-- Returns {purged, expired holds left (past the purge's bound), counters..., stats fields...} and, when
-- ARGV[5] is '1', the stats hash's field/value pairs after them (``metrics`` reads every figure at once);
-- counters and fields as strings ('0' when absent).

local PURGE_BATCHES = 10  -- 1,000 expired holds per read at most; the rest on the next read

local A, err = checked(function()
  want_keys(3, true)
  local a = {
    now = int_arg(1, 'now (ms)', 0, MAX_MS),
    prefix = prefix_arg(2),
    event_retention = int_arg(3, 'event retention (ms)', 1, MAX_RETENTION_MS),
    marker_ms = int_arg(4, 'marker retention (ms)', 1, MAX_RETENTION_MS),
    whole_stats = flag_arg(5, 'whole stats hash'),
  }
  for i = 6, #ARGV do text_arg(i, 'stats field', 300) end
  return a
end)
if err then return err end

-- every argument is good: from here on the script may write (purges only)
local purged = 0
for _ = 1, PURGE_BATCHES do
  local n = purge_expired(KEYS[1], A.prefix, ARGV[1], KEYS[2], A.event_retention, 100, ARGV[4])
  purged = purged + n
  if n < 100 then break end
end
local out = {purged, redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1])}
if #KEYS > 3 then
  local counters = redis.call('MGET', unpack(KEYS, 4))
  for i = 1, #KEYS - 3 do out[#out + 1] = counters[i] or '0' end
end
if #ARGV > 5 then
  local values = redis.call('HMGET', KEYS[3], unpack(ARGV, 6))
  for i = 1, #ARGV - 5 do out[#out + 1] = values[i] or '0' end
end
if A.whole_stats then
  for _, item in ipairs(redis.call('HGETALL', KEYS[3])) do out[#out + 1] = item end
end
return out

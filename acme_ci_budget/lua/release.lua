-- release.lua: the call failed; drop its hold, record nothing spent, log the failure.
-- Idempotent: releasing twice, or after a settle, changes nothing.
--
-- KEYS[1] holds ZSET   KEYS[2] hold HASH   KEYS[3] result marker   KEYS[4] stats HASH of the month
-- KEYS[5] events STREAM
-- ARGV[1] reservation id   ARGV[2] now (ms)   ARGV[3] retention (ms)   ARGV[4] workflow id
-- ARGV[5] event retention (ms)
-- ARGV[6] event fields (a JSON object)
-- Returns {status} with status 'ok' or 'dup'

if redis.call('EXISTS', KEYS[3]) == 1 then return {'dup'} end
drop_hold(KEYS[2], KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[4], 'failed|' .. ARGV[4], 1)
add_event(KEYS[5], stream_minid(ARGV[5]), {'type', 'failure', 'ts_ms', ARGV[2], 'reservation', ARGV[1], 'cost_nano', 0,
  'outcome', 'error'}, ARGV[6])
redis.call('SET', KEYS[3], cjson.encode({state = 'released'}), 'PX', ARGV[3])
return {'ok'}

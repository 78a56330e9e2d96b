-- settle.lua: the call finished; drop its hold and record what it really cost, on every counter,
-- in the month's stats and as one event. Idempotent by reservation id: a second settle returns
-- the first result and changes nothing. Actual cost above the hold is still recorded.
--
-- KEYS[1] holds ZSET          KEYS[2] hold HASH          KEYS[3] result marker (string, JSON)
-- KEYS[4] org spent (month)   KEYS[5] wf spent (month)   KEYS[6] wf spent (day)
-- KEYS[7] session HASH or the no-session key             KEYS[8] stats HASH of the month
-- KEYS[9] events STREAM
-- ARGV[1] reservation id      ARGV[2] cost (nano-USD)    ARGV[3] tokens used (all kinds)
-- ARGV[4] now (ms)            ARGV[5] retention (ms)     ARGV[6] workflow id
-- ARGV[7] model               ARGV[8] user ('' : none)   ARGV[9] day of month (DD)
-- ARGV[10] input  ARGV[11] output  ARGV[12] cache write  ARGV[13] cache read   (tokens)
-- ARGV[14] has session (1/0)  ARGV[15] event retention (ms)
-- ARGV[16] event fields (a JSON object)
-- Returns {status, json} with status 'ok' or 'dup' (json: the first settle's result)

local prior = redis.call('GET', KEYS[3])
if prior then
  local decoded = cjson.decode(prior)
  if decoded['state'] == 'settled' then return {'dup', prior} end
end

local held = drop_hold(KEYS[2], KEYS[1], ARGV[1])
local cost = tonumber(ARGV[2])
local wf, model = ARGV[6], ARGV[7]
local org = redis.call('INCRBY', KEYS[4], cost)
local month = redis.call('INCRBY', KEYS[5], cost)
local day = redis.call('INCRBY', KEYS[6], cost)
redis.call('PEXPIRE', KEYS[6], ARGV[5])

local stats = KEYS[8]
redis.call('HINCRBY', stats, 'calls|' .. wf, 1)
redis.call('HINCRBY', stats, 'cost|' .. wf, cost)
redis.call('HINCRBY', stats, 'calls|' .. wf .. '|' .. model, 1)
redis.call('HINCRBY', stats, 'cost|' .. wf .. '|' .. model, cost)
redis.call('HINCRBY', stats, 'tok_in|' .. wf, ARGV[10])
redis.call('HINCRBY', stats, 'tok_out|' .. wf, ARGV[11])
redis.call('HINCRBY', stats, 'tok_cw|' .. wf, ARGV[12])
redis.call('HINCRBY', stats, 'tok_cr|' .. wf, ARGV[13])
redis.call('HINCRBY', stats, 'day_cost|' .. wf .. '|' .. ARGV[9], cost)
if ARGV[8] ~= '' then
  redis.call('HINCRBY', stats, 'user_cost|' .. ARGV[8], cost)
  redis.call('HINCRBY', stats, 'user_calls|' .. ARGV[8], 1)
end
if ARGV[14] == '1' then
  redis.call('HINCRBY', KEYS[7], 'tokens', ARGV[3])
  if redis.call('HSETNX', KEYS[7], 'counted', 1) == 1 then
    redis.call('HINCRBY', stats, 'sessions|' .. wf, 1)
  end
else
  redis.call('HINCRBY', stats, 'tasks|' .. wf, 1)
end
if not held then redis.call('HINCRBY', stats, 'settled_without_hold|' .. wf, 1) end

local event_id = add_event(KEYS[9], stream_minid(ARGV[15]),
  {'type', 'call', 'ts_ms', ARGV[4], 'reservation', ARGV[1], 'cost_nano', cost, 'outcome', 'ok'}, ARGV[16])

local result = cjson.encode({state = 'settled', cost_nano = cost, org_spent = org, month_spent = month,
  day_spent = day, hold_found = held, event_id = event_id})
redis.call('SET', KEYS[3], result, 'PX', ARGV[5])
return {'ok', result}

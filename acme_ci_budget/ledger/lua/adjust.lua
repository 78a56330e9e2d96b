-- adjust.lua: record one reconcile adjustment (ledger/reconcile.py, record_adjustments): the amount
-- Anthropic billed for one (UTC day, model) minus what the ledger recorded, added to the org's month
-- (and to a workflow's month and day when the API key maps to one), counted in the month's stats and
-- appended as one `adjustment` event, all in this script: the counters still equal the sum of the
-- events. Idempotent by adjustment id: the id (period|day|model) is kept in the adjustments hash, and
-- a second run with the same id changes nothing. The amount may be negative (the ledger recorded more).
--
-- KEYS[1] adjustments HASH (id -> amount)   KEYS[2] org spent (month)   KEYS[3] stats HASH of the month
-- KEYS[4] events STREAM                     KEYS[5] wf spent (month)    KEYS[6] wf spent (day)
--   (KEYS[5] and KEYS[6] are only read when ARGV[3] names a workflow)
-- ARGV[1] adjustment id     ARGV[2] amount (nano-USD, signed)   ARGV[3] workflow ('' : the org only)
-- ARGV[4] day of month (DD) ARGV[5] now (ms)                    ARGV[6] retention of the day counter (ms)
-- ARGV[7] event retention (ms)                                  ARGV[8] event fields (a JSON object of strings)
-- ARGV[9] event time (ms: within the UTC day it corrects, so a reconcile of that day counts it)
-- Returns {'ok', event_id} or {'dup', the amount recorded the first time}.

local A, err = checked(function()
  want_keys(6)
  return {
    id = text_arg(1, 'adjustment id', 512),
    amount = int_arg(2, 'amount (nano-USD)', -MAX_CALL_NANO, MAX_CALL_NANO),
    wf = text_arg(3, 'workflow id', 256, true),
    dd = match_arg(4, 'day of month', '^%d%d$'),
    now = int_arg(5, 'now (ms)', 0, MAX_MS),
    retention = int_arg(6, 'retention (ms)', 1, MAX_RETENTION_MS),
    event_retention = int_arg(7, 'event retention (ms)', 1, MAX_RETENTION_MS),
    fields = json_arg(8, 'event fields'),
    ts = int_arg(9, 'event time (ms)', 0, MAX_MS),
  }
end)
if err then return err end

local prior = redis.call('HGET', KEYS[1], A.id)
if prior then return {'dup', prior} end

-- every argument is good: from here on the script writes
local amount_s = ARGV[2]
redis.call('HSET', KEYS[1], A.id, amount_s)
redis.call('INCRBY', KEYS[2], amount_s)
local stats = KEYS[3]
redis.call('HINCRBY', stats, 'adjust_nano|org', amount_s)
redis.call('HINCRBY', stats, 'adjust_count|org', 1)
local fixed = {'type', 'adjustment', 'ts_ms', int_str(A.ts), 'recorded_ms', int_str(A.now), 'reservation', A.id,
  'cost_nano', amount_s, 'outcome', 'adjusted'}
if A.wf ~= '' then
  redis.call('INCRBY', KEYS[5], amount_s)
  redis.call('INCRBY', KEYS[6], amount_s)
  redis.call('PEXPIRE', KEYS[6], A.retention)
  -- the workflow's month cost and its day, as a settle adds them: the report's sums keep agreeing
  redis.call('HINCRBY', stats, 'cost|' .. A.wf, amount_s)
  redis.call('HINCRBY', stats, 'day_cost|' .. A.wf .. '|' .. A.dd, amount_s)
  redis.call('HINCRBY', stats, 'adjust_nano|' .. A.wf, amount_s)
  fixed[#fixed + 1] = 'workflow'
  fixed[#fixed + 1] = A.wf
end
local event_id = add_event(KEYS[4], stream_minid(A.event_retention), fixed, A.fields)
return {'ok', event_id}

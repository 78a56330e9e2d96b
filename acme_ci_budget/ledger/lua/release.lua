-- release.lua: the call failed; drop its hold, record nothing spent, log the failure.
-- Idempotent: releasing twice, or after a settle, changes nothing ('dup'). An id the ledger does not
-- know (never reserved here, or its records are past retention) changes nothing either ('unknown'):
-- it is not counted as a failure. A hold that expired before its release is known (the purge left
-- a marker): its failure is counted.
--
-- KEYS[1] holds ZSET   KEYS[2] hold HASH   KEYS[3] result marker   KEYS[4] stats HASH of the month
-- KEYS[5] events STREAM
-- ARGV[1] reservation id   ARGV[2] now (ms)   ARGV[3] retention (ms)   ARGV[4] workflow id
-- ARGV[5] event retention (ms)
-- ARGV[6] how many event fields follow ARGV[7]: n name/value pairs, the last 2n arguments
-- ARGV[7] repository (owner/name) the call is attributed to ('' : none known); the event names it
-- (the repository's held counter is named in the hold HASH: dropping the hold gives it back)
-- Returns {status} with status 'ok', 'dup' or 'unknown'

local A, err = checked(function()
  want_keys(5)
  return {
    res_id = id_arg(1, 'reservation id'),
    now = int_arg(2, 'now (ms)', 0, MAX_MS),
    retention = int_arg(3, 'retention (ms)', 1, MAX_RETENTION_MS),
    wf = text_arg(4, 'workflow id', 256),
    event_retention = int_arg(5, 'event retention (ms)', 1, MAX_RETENTION_MS),
    fields = fields_arg(6, 'event fields', 7),
    repo = repo_arg(7),
  }
end)
if err then return err end
local res_id = A.res_id

local prior = call('GET', KEYS[3])
if prior and prior ~= 'expired' then return {'dup'} end
local known = prior == 'expired' or call('EXISTS', KEYS[2]) == 1 or call('ZSCORE', KEYS[1], res_id)
if not known then return {'unknown'} end

-- a known reservation: from here on the script writes
drop_hold(KEYS[2], KEYS[1], res_id)
call('HINCRBY', KEYS[4], 'failed|' .. A.wf, '1')
add_event(KEYS[5], stream_minid(A.event_retention), {'type', 'failure', 'ts_ms', ARGV[2], 'reservation', res_id,
  'cost_nano', '0', 'outcome', 'error', 'repo', A.repo}, A.fields)
call('SET', KEYS[3], 'released', 'PX', ARGV[3])
return {'ok'}

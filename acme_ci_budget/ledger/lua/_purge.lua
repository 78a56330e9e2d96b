-- Shared prelude, part 2 (prepended after _args.lua to every script when it is loaded; not a script
-- on its own): holds and events.
--
-- A hold is two things written and removed together, in one script: its entry in the holds index
-- (ZSET, scored by expiry on the ledger's clock) and its HASH (amount, the counter keys it is held
-- on (the repository's too, when the call named one), the session tokens, its workflow, repository,
-- day and month). The hash has no expiry of its own: it lives exactly as long as its index entry, so
-- however late a purge runs, it finds what to give back. (A hash that outlived the index by a fixed margin leaked the whole hold whenever no
-- reserve came within that margin.)

-- Drop one hold: give its amount back to every counter it was held on, remove it from the index.
-- Returns the amount (a string) when the hold still existed, else false; and what the hold said
-- ({amount, org_held, month_held, day_held, session, tokens, repo_held}: the counter keys it was on).
local function drop_hold(hold_key, holds_key, res_id)
  local hold = redis.call('HMGET', hold_key, 'amount', 'org_held', 'month_held', 'day_held', 'session', 'tokens',
    'repo_held')
  redis.call('ZREM', holds_key, res_id)
  if not hold[1] then return false, hold end
  for _, i in ipairs({2, 3, 4, 7}) do
    -- a day counter past its retention is gone: do not re-create it as a negative number
    if hold[i] and hold[i] ~= '' and redis.call('EXISTS', hold[i]) == 1 then
      redis.call('DECRBY', hold[i], hold[1])
    end
  end
  if hold[5] and hold[5] ~= '' and redis.call('EXISTS', hold[5]) == 1 then
    redis.call('HINCRBY', hold[5], 'held_tokens', -tonumber(hold[6]))
  end
  redis.call('DEL', hold_key)
  return hold[1], hold
end

-- The oldest stream id to keep: Redis assigns stream ids from its own clock, so retention is measured
-- on that clock too (the ledger's clock may be simulated and far from Redis time).
local function stream_minid(retention_ms)
  local t = redis.call('TIME')
  return int_str(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - retention_ms)
end

-- Append one event: fixed fields first, then the caller's: a table decoded by json_arg, or the index of
-- the first of the flat pairs fields_arg checked (nil: none); `replace` (name -> value, or nil) gives some
-- of the flat ones another value, or adds them.
local function add_event(stream_key, minid, fixed, fields, replace)
  local all = fixed
  if type(fields) == 'table' then
    for name, value in pairs(fields) do
      all[#all + 1] = name
      all[#all + 1] = value
    end
  elseif fields then
    local first = fields
    for j = first, #ARGV, 2 do
      local name = ARGV[j]
      all[#all + 1] = name
      if replace and replace[name] then
        all[#all + 1] = replace[name]
        replace[name] = nil
      else
        all[#all + 1] = ARGV[j + 1]
      end
    end
  end
  for name, value in pairs(replace or {}) do
    all[#all + 1] = name
    all[#all + 1] = value
  end
  return redis.call('XADD', stream_key, 'MINID', '~', minid, '*', unpack(all))
end

-- Purge holds whose TTL passed (a worker died between reserve and settle), at most `limit` per call:
-- each gives its amount back and leaves a hold_expired event naming its day and month, and a
-- marker so that a late release or settle of it is known (not an unknown id).
local function purge_expired(holds_key, prefix, now_ms, stream_key, minid, limit, marker_ms)
  local expired = redis.call('ZRANGEBYSCORE', holds_key, '-inf', now_ms, 'LIMIT', 0, limit)
  for _, id in ipairs(expired) do
    local hold_key = prefix .. 'hold:' .. id
    local info = redis.call('HMGET', hold_key, 'workflow', 'day', 'month', 'repo')
    local amount = drop_hold(hold_key, holds_key, id)
    local event = {'type', 'hold_expired', 'ts_ms', now_ms, 'workflow', info[1] or '',
      'reservation', id, 'cost_nano', '0', 'held_nano', amount or '0', 'outcome', 'expired',
      'reason', amount and 'hold_ttl_expired' or 'hold_record_missing', 'repo', info[4] or ''}
    if info[2] then
      local n = #event
      event[n + 1], event[n + 2], event[n + 3], event[n + 4] = 'day', info[2], 'month', info[3] or ''
    end
    add_event(stream_key, minid, event)
    redis.call('SET', prefix .. 'res:' .. id, 'expired', 'NX', 'PX', marker_ms)
  end
  return #expired
end

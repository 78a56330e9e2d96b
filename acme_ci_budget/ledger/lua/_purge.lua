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
-- Returns the amount (a string) when the hold still existed, else false; what the hold said
-- ({amount, org_held, month_held, day_held, session, tokens, repo_held}: the counter keys it was on);
-- and what each counter it gave back to holds now (index in the hold -> the number DECRBY answered;
-- none for a counter that was gone).
local HOLD_COUNTERS = {2, 3, 4, 7}
local function drop_hold(hold_key, holds_key, res_id)
  local hold = call('HMGET', hold_key, 'amount', 'org_held', 'month_held', 'day_held', 'session', 'tokens',
    'repo_held')
  call('ZREM', holds_key, res_id)
  local amount = hold[1]
  local after = {}
  if not amount then return false, hold, after end
  -- a day counter past its retention is gone: do not re-create it as a negative number (one MGET tells
  -- which of the counters still exist)
  local on, keys = {}, {}
  for _, i in ipairs(HOLD_COUNTERS) do
    local key = hold[i]
    if key and key ~= '' then
      on[#on + 1], keys[#keys + 1] = i, key
    end
  end
  if #keys > 0 then
    local values = call('MGET', unpack(keys))
    for j, i in ipairs(on) do
      if values[j] then after[i] = call('DECRBY', keys[j], amount) end
    end
  end
  local session = hold[5]
  -- ('-0' is no integer to Redis: a hold of no tokens gives none back)
  if session and session ~= '' and hold[6] ~= '0' and call('EXISTS', session) == 1 then
    call('HINCRBY', session, 'held_tokens', '-' .. hold[6])
  end
  call('DEL', hold_key)
  return amount, hold, after
end

-- A counter's value as INCRBY/DECRBY answered it, as the string GET reads (a reply past 2^53 lost
-- digits on its way into Lua: then it is read).
local function counter_str(n, key)
  if n < EXACT and n > -EXACT then return format('%d', n) end
  return call('GET', key)
end

-- The oldest stream id to keep: Redis assigns stream ids from its own clock, so retention is measured
-- on that clock too (the ledger's clock may be simulated and far from Redis time).
local function stream_minid(retention_ms)
  local t = call('TIME')
  return int_str(t[1] * 1000 + floor(t[2] / 1000) - retention_ms)
end

-- Append one event: fixed fields first, then the caller's: a table decoded by json_arg, or the index of
-- the first of the flat pairs fields_arg checked (nil: none); `replace` (name -> value, or nil) gives some
-- of the flat ones another value, or adds them.
local function add_event(stream_key, minid, fixed, fields, replace)
  local all = fixed
  local n = #all
  if type(fields) == 'table' then
    for name, value in pairs(fields) do
      all[n + 1], all[n + 2] = name, value
      n = n + 2
    end
  elseif fields then
    for j = fields, #ARGV, 2 do
      local name = ARGV[j]
      local value = ARGV[j + 1]
      if replace and replace[name] then
        value = replace[name]
        replace[name] = nil
      end
      all[n + 1], all[n + 2] = name, value
      n = n + 2
    end
  end
  if replace then
    for name, value in pairs(replace) do
      all[n + 1], all[n + 2] = name, value
      n = n + 2
    end
  end
  return call('XADD', stream_key, 'MINID', '~', minid, '*', unpack(all))
end

-- Purge holds whose TTL passed (a worker died between reserve and settle), at most `limit` per call:
-- each gives its amount back and leaves a hold_expired event naming its day and month, and a
-- marker so that a late release or settle of it is known (not an unknown id). The events are
-- trimmed to `retention_ms` (Redis's clock is read only when one is written).
local function purge_expired(holds_key, prefix, now_ms, stream_key, retention_ms, limit, marker_ms)
  local expired = call('ZRANGEBYSCORE', holds_key, '-inf', now_ms, 'LIMIT', 0, limit)
  if #expired == 0 then return 0 end
  local minid = stream_minid(retention_ms)
  for _, id in ipairs(expired) do
    local hold_key = prefix .. 'hold:' .. id
    local info = call('HMGET', hold_key, 'workflow', 'day', 'month', 'repo')
    local amount = drop_hold(hold_key, holds_key, id)
    local event = {'type', 'hold_expired', 'ts_ms', now_ms, 'workflow', info[1] or '',
      'reservation', id, 'cost_nano', '0', 'held_nano', amount or '0', 'outcome', 'expired',
      'reason', amount and 'hold_ttl_expired' or 'hold_record_missing', 'repo', info[4] or ''}
    if info[2] then
      local n = #event
      event[n + 1], event[n + 2], event[n + 3], event[n + 4] = 'day', info[2], 'month', info[3] or ''
    end
    add_event(stream_key, minid, event)
    call('SET', prefix .. 'res:' .. id, 'expired', 'NX', 'PX', marker_ms)
  end
  return #expired
end

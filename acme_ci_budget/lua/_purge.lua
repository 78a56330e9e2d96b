-- Shared prelude (prepended to reserve.lua, settle.lua and release.lua when they are loaded):
-- helpers every money script needs. Not a script on its own.

-- Drop one hold: give its worst-case amount back to every counter it was held on.
-- Returns true when the hold still existed.
local function drop_hold(hold_key, holds_key, res_id)
  local hold = redis.call('HMGET', hold_key, 'amount', 'org_held', 'month_held', 'day_held', 'session', 'tokens')
  if not hold[1] then
    redis.call('ZREM', holds_key, res_id)
    return false
  end
  local amount = tonumber(hold[1])
  for i = 2, 4 do
    if hold[i] and hold[i] ~= '' then redis.call('DECRBY', hold[i], amount) end
  end
  if hold[5] and hold[5] ~= '' then redis.call('HINCRBY', hold[5], 'held_tokens', -tonumber(hold[6])) end
  redis.call('DEL', hold_key)
  redis.call('ZREM', holds_key, res_id)
  return true
end

-- Purge holds whose TTL passed (a worker died between reserve and settle), at most 100 per call.
-- The oldest stream id to keep: Redis assigns stream ids from its own clock, so retention is measured
-- on that clock too (the ledger's clock may be simulated and far from Redis time).
local function stream_minid(retention_ms)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(retention_ms)
end

local function purge_expired(holds_key, prefix, now_ms, stream_key, minid)
  local expired = redis.call('ZRANGEBYSCORE', holds_key, '-inf', now_ms, 'LIMIT', 0, 100)
  for _, id in ipairs(expired) do
    local hold_key = prefix .. 'hold:' .. id
    local wf = redis.call('HGET', hold_key, 'workflow') or ''
    if drop_hold(hold_key, holds_key, id) then
      redis.call('XADD', stream_key, 'MINID', '~', minid, '*', 'type', 'hold_expired', 'ts_ms', now_ms,
        'workflow', wf, 'reservation', id, 'cost_nano', 0, 'outcome', 'expired', 'reason', 'hold_ttl_expired')
    end
  end
  return #expired
end

-- Append one event: fixed fields first, then the caller's fields from a JSON object (one argument
-- instead of dozens keeps the round trip small).
local function add_event(stream_key, minid, fixed, json_fields)
  local fields = fixed
  if json_fields and json_fields ~= '' then
    for name, value in pairs(cjson.decode(json_fields)) do
      fields[#fields + 1] = name
      fields[#fields + 1] = tostring(value)
    end
  end
  return redis.call('XADD', stream_key, 'MINID', '~', minid, '*', unpack(fields))
end

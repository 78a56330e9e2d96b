-- reset.lua: an admin correction: zero spent counters of the current day or month, keeping the org's
-- month total the sum of the workflows' month totals. A month reset of some workflows takes what their
-- counters held off the org's month counter in the same step; a month reset of every workflow zeroes
-- the org's too; a day reset leaves the org (a month counter) alone. Refuses, writing nothing, when the
-- org's counter holds less than the workflows' being taken off it (it would go negative: the counters
-- no longer agree, and no reset can make them). Holds, stats and events are kept; one admin_reset event
-- records what was zeroed.
--
-- KEYS[1] events STREAM   KEYS[2] org month spent (STRING)   KEYS[3..] the workflows' spent counters,
-- then ARGV[5] repositories' month spent counters (a month reset of every workflow zeroes them too)
-- ARGV[1] org mode: 'keep' (day reset) | 'adjust' (month, some workflows) | 'zero' (month, every workflow)
-- ARGV[2] now (ms)   ARGV[3] event retention (ms)   ARGV[4] event fields (a JSON object of strings)
-- ARGV[5] how many of the last KEYS are repositories' counters ('' or absent: none; only with 'zero')
-- Returns {'ok', org_before, org_after, zeroed_1, zeroed_2, ...} (money as nano-USD strings, in KEYS
-- order) or {'refused', org_before, workflows_total}

local A, err = checked(function()
  want_keys(3, true)
  local mode = text_arg(1, 'org mode', 8)
  if mode ~= 'keep' and mode ~= 'adjust' and mode ~= 'zero' then bad_arg('org mode', shown(mode)) end
  local repos = 0
  if ARGV[5] and ARGV[5] ~= '' then repos = int_arg(5, 'repository counters', 0, #KEYS - 3) end
  if repos > 0 and mode ~= 'zero' then bad_arg('repository counters', 'only with a reset of every workflow') end
  return {
    mode = mode,
    repos = repos,
    now = int_arg(2, 'now (ms)', 0, MAX_MS),
    event_retention = int_arg(3, 'event retention (ms)', 1, MAX_RETENTION_MS),
    fields = json_arg(4, 'event fields'),
  }
end)
if err then return err end
local last = #KEYS - A.repos  -- the workflows' counters are KEYS[3..last]

local zeroed = {}
for i = 3, last do zeroed[#zeroed + 1] = redis.call('GET', KEYS[i]) or '0' end
local sum = total(unpack(zeroed))
local sum_s = total_str(sum)
local org_before = redis.call('GET', KEYS[2]) or '0'
local org_after = org_before
if A.mode == 'adjust' then
  if exceeds(sum, total(org_before)) then return {'refused', org_before, sum_s} end
end

-- checked: from here on the script writes
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end  -- the repositories' too
local org_taken = '0'
if A.mode == 'adjust' then
  org_after = tostring(redis.call('DECRBY', KEYS[2], sum_s))
  org_taken = sum_s
elseif A.mode == 'zero' then
  redis.call('DEL', KEYS[2])
  org_after = '0'
  org_taken = org_before
end
add_event(KEYS[1], stream_minid(A.event_retention), {'type', 'admin_reset', 'ts_ms', ARGV[2],
  'cost_nano', '0', 'zeroed_nano', sum_s, 'org_zeroed_nano', org_taken}, A.fields)
local reply = {'ok', org_before, org_after}
for _, value in ipairs(zeroed) do reply[#reply + 1] = value end
return reply

-- settle.lua: the call finished; drop its hold and record what it really cost, on every counter,
-- in the month's stats and as one event. Idempotent by reservation id: a second settle returns
-- the first result and changes nothing. Actual cost above the hold is still recorded (the money
-- was spent) and flagged: over_hold_nano is the part of the cost no live hold covered.
--
-- KEYS[1] holds ZSET          KEYS[2] hold HASH          KEYS[3] result marker (string)
-- KEYS[4] org spent (month)   KEYS[5] wf spent (month)   KEYS[6] wf spent (day)
-- KEYS[7] session HASH or the no-session key             KEYS[8] stats HASH of the month
-- KEYS[9] events STREAM      KEYS[10] repo spent (month), or the namespace's no-repo key (ARGV[19] '')
-- ARGV[1] reservation id      ARGV[2] cost (nano-USD)    ARGV[3] tokens used (all kinds)
-- ARGV[4] now (ms)            ARGV[5] retention (ms)     ARGV[6] workflow id
-- ARGV[7] model               ARGV[8] user ('' : none)   ARGV[9] day of month (DD)
-- ARGV[10] input  ARGV[11] output  ARGV[12] cache write (all)  ARGV[13] cache read
-- ARGV[14] cache write at the 1-hour TTL (part of ARGV[12])   (tokens)
-- ARGV[15] has session (1/0)  ARGV[16] event retention (ms)
-- ARGV[17] how many event fields follow ARGV[19] (n name/value pairs, the last 2n arguments)
-- ARGV[18] usage missing (1/0)
-- ARGV[19] repository (owner/name) the call is attributed to ('' : none known); the event names it
-- Returns {status, cost, org_spent, month_spent, day_spent, hold_found (1/0), over_hold_nano, event_id,
-- org_held, month_held, day_held} with status 'ok' or 'dup' (a dup returns the first settle's figures);
-- money as strings. The held figures are the other calls' holds still on this hold's counters once it
-- is dropped ('0' when the hold was gone): the per-call alert check needs them for the one-call rule.
-- The marker keeps the same figures, space-separated, after the word 'settled'.

local A, err = checked(function()
  want_keys(10)
  local a = {
    res_id = id_arg(1, 'reservation id'),
    cost = int_arg(2, 'cost (nano-USD)', 0, MAX_CALL_NANO),
    used = int_arg(3, 'tokens used', 0, MAX_TOKENS),
    now = int_arg(4, 'now (ms)', 0, MAX_MS),
    retention = int_arg(5, 'retention (ms)', 1, MAX_RETENTION_MS),
    wf = text_arg(6, 'workflow id', 256),
    model = text_arg(7, 'model', 256),
    user = text_arg(8, 'user', 256, true),
    dd = match_arg(9, 'day of month', '^%d%d$'),
    has_session = flag_arg(15, 'has session'),
    event_retention = int_arg(16, 'event retention (ms)', 1, MAX_RETENTION_MS),
    fields = fields_arg(17, 'event fields', 19),
    usage_missing = flag_arg(18, 'usage missing'),
    repo = repo_arg(19),
  }
  int_arg(10, 'input tokens', 0, MAX_TOKENS)
  int_arg(11, 'output tokens', 0, MAX_TOKENS)
  local cache_write = int_arg(12, 'cache write tokens', 0, MAX_TOKENS)
  int_arg(13, 'cache read tokens', 0, MAX_TOKENS)
  if int_arg(14, 'cache write 1h tokens', 0, MAX_TOKENS) > cache_write then
    bad_arg('cache write 1h tokens', 'more than all cache writes')
  end
  return a
end)
if err then return err end
local res_id, cost, wf, model, user = A.res_id, A.cost, A.wf, A.model, A.user
local retention = ARGV[5]

local prior = call('GET', KEYS[3])
if prior then
  if sub(prior, 1, 8) == 'settled ' then
    local out = {'dup'}
    for word in string.gmatch(sub(prior, 9), '%S+') do out[#out + 1] = word end
    return out
  end
  if sub(prior, 1, 1) == '{' then  -- a marker from before money left cjson: best effort
    local ok, old = pcall(cjson.decode, prior)
    if ok and old['state'] == 'settled' then
      return {'dup', int_str(old['cost_nano']), int_str(old['org_spent']), int_str(old['month_spent']),
        int_str(old['day_spent']), old['hold_found'] and '1' or '0', '0', tostring(old['event_id'])}
    end
  end
end

-- every argument is good: from here on the script writes
-- the counters this hold was on (named in its hash, same hash tag) are given back; what they hold then
-- is in the reply
local amount, hold, after = drop_hold(KEYS[2], KEYS[1], res_id)
local over = cost
if amount then over = math.max(0, cost - amount) end
local cost_s, over_s = ARGV[2], int_str(over)
-- the spend as the INCRBYs answer it (no read back)
local spent = {counter_str(call('INCRBY', KEYS[4], cost_s), KEYS[4]),
  counter_str(call('INCRBY', KEYS[5], cost_s), KEYS[5]), counter_str(call('INCRBY', KEYS[6], cost_s), KEYS[6])}
call('PEXPIRE', KEYS[6], retention)

local stats = KEYS[8]
-- the repository's month spend and stats (none named: its key, the namespace's no-repo key, is left alone)
local repo = A.repo
if repo ~= '' then
  call('INCRBY', KEYS[10], cost_s)
  call('HINCRBY', stats, 'repo_calls|' .. repo, '1')
  call('HINCRBY', stats, 'repo_cost|' .. repo, cost_s)
end
if call('HINCRBY', stats, 'calls|' .. wf, '1') == 1 then
  -- A workflow's first call of the month: make the stats hash a real hash table. Redis keeps a small
  -- hash as one packed list (a ziplist/listpack, up to hash-max-ziplist-entries: 512 fields by
  -- default), which each HINCRBY scans twice; a month at the lab's usage has ~200 fields, where a
  -- settle's ~17 HINCRBYs cost ~600k instructions instead of ~70k. A field name longer than
  -- hash-max-ziplist-value (64 bytes by default; 1,024 here) converts it for good; the field is
  -- removed at once, so the fields and values stay exactly the settles' (only HGETALL's order, which
  -- Redis never promises, changes).
  local long = string.rep('-', 1024)
  call('HSET', stats, long, '1')
  call('HDEL', stats, long)
end
call('HINCRBY', stats, 'cost|' .. wf, cost_s)
call('HINCRBY', stats, 'calls|' .. wf .. '|' .. model, '1')
call('HINCRBY', stats, 'cost|' .. wf .. '|' .. model, cost_s)
call('HINCRBY', stats, 'tok_in|' .. wf, ARGV[10])
call('HINCRBY', stats, 'tok_out|' .. wf, ARGV[11])
call('HINCRBY', stats, 'tok_cw|' .. wf, ARGV[12])
call('HINCRBY', stats, 'tok_cr|' .. wf, ARGV[13])
if ARGV[14] ~= '0' then call('HINCRBY', stats, 'tok_cw1h|' .. wf, ARGV[14]) end
-- per model too: `metrics` publishes the month's tokens by workflow, model and type
call('HINCRBY', stats, 'tok_in|' .. wf .. '|' .. model, ARGV[10])
call('HINCRBY', stats, 'tok_out|' .. wf .. '|' .. model, ARGV[11])
call('HINCRBY', stats, 'tok_cw|' .. wf .. '|' .. model, ARGV[12])
call('HINCRBY', stats, 'tok_cr|' .. wf .. '|' .. model, ARGV[13])
call('HINCRBY', stats, 'day_cost|' .. wf .. '|' .. ARGV[9], cost_s)
if user ~= '' then
  call('HINCRBY', stats, 'user_cost|' .. user, cost_s)
  call('HINCRBY', stats, 'user_calls|' .. user, '1')
end
if A.has_session then
  call('HINCRBY', KEYS[7], 'tokens', ARGV[3])
  if call('HSETNX', KEYS[7], 'counted', '1') == 1 then
    call('HINCRBY', stats, 'sessions|' .. wf, '1')
  end
else
  call('HINCRBY', stats, 'tasks|' .. wf, '1')
end
if not amount then call('HINCRBY', stats, 'settled_without_hold|' .. wf, '1') end
local fixed = {'type', 'call', 'ts_ms', ARGV[4], 'reservation', res_id, 'cost_nano', cost_s, 'outcome', 'ok',
  'repo', repo}
if over > 0 then
  call('HINCRBY', stats, 'over_hold|' .. wf, '1')
  call('HINCRBY', stats, 'over_hold_nano|' .. wf, over_s)
  fixed[13], fixed[14] = 'over_hold_nano', over_s
end
if A.usage_missing then
  call('HINCRBY', stats, 'usage_missing|' .. wf, '1')
  fixed[#fixed + 1], fixed[#fixed + 2] = 'usage_missing', '1'
end

local event_id = add_event(KEYS[9], stream_minid(A.event_retention), fixed, A.fields)
-- the other calls' holds left on this hold's counters ('0': the hold was gone, or a counter was)
local held = {'0', '0', '0'}
for i = 2, 4 do
  if after[i] then held[i - 1] = counter_str(after[i], hold[i]) end
end
local result = {cost_s, spent[1], spent[2], spent[3], amount and '1' or '0', over_s, event_id,
  held[1], held[2], held[3]}
call('SET', KEYS[3], 'settled ' .. table.concat(result, ' '), 'PX', retention)
return {'ok', unpack(result)}

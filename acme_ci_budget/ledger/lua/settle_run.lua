-- settle_run.lua: an agent run (a Claude Code run) finished; drop its hold and record what it cost,
-- one line per model it used (the agent reports usage per model), on every counter, in the month's
-- stats and as one `call` event per line, in one round trip. Idempotent by reservation id, as
-- settle.lua is (the same result marker: a second settle returns the first result and changes
-- nothing). A cost above the hold is still recorded (the money was spent) and flagged on the run's
-- first event: over_hold_nano is the part of the run's cost no live hold covered. With usage missing
-- (the run left no result) the caller sends one line at the hold's amount, flagged usage_missing.
--
-- KEYS[1] holds ZSET          KEYS[2] hold HASH          KEYS[3] result marker (string)
-- KEYS[4] org spent (month)   KEYS[5] wf spent (month)   KEYS[6] wf spent (day)
-- KEYS[7] stats HASH of the month                        KEYS[8] events STREAM
-- KEYS[9] repo spent (month), or the namespace's no-repo key (the repository '')
-- ARGV[1] reservation id      ARGV[2] now (ms)           ARGV[3] retention (ms)
-- ARGV[4] workflow id         ARGV[5] day of month (DD)  ARGV[6] event retention (ms)
-- ARGV[7] usage missing (1/0) ARGV[8] the run's event fields (a JSON object of strings, on every line)
-- ARGV[9] number of lines N (1 to 32), then 7 arguments per line i, from ARGV[10 + 7 * (i - 1)]:
--         model, cost (nano-USD), input, output, cache write, cache read (tokens),
--         the line's own event fields (a JSON object of strings)
-- ARGV[10 + 7 * N] the repository (owner/name) the run is attributed to ('' : none known): every line's
--         event names it, and its month spend moves with the org's
-- Returns {status, cost, org_spent, month_spent, day_spent, hold_found (1/0), over_hold_nano, event_id}
-- with status 'ok' or 'dup' (a dup returns the first settle's figures); money as strings; event_id is
-- the run's first event. The marker keeps the same figures, space-separated, after the word 'settled'.

local MAX_LINES = 32
local A, err = checked(function()
  want_keys(9)
  local a = {
    res_id = id_arg(1, 'reservation id'),
    now = int_arg(2, 'now (ms)', 0, MAX_MS),
    retention = int_arg(3, 'retention (ms)', 1, MAX_RETENTION_MS),
    wf = text_arg(4, 'workflow id', 256),
    dd = match_arg(5, 'day of month', '^%d%d$'),
    event_retention = int_arg(6, 'event retention (ms)', 1, MAX_RETENTION_MS),
    usage_missing = flag_arg(7, 'usage missing'),
    fields = json_arg(8, 'run event fields'),
    n = int_arg(9, 'number of lines', 1, MAX_LINES),
    lines = {},
  }
  if #ARGV ~= 10 + 7 * a.n then bad_arg('ARGV', 'expected ' .. (10 + 7 * a.n) .. ' arguments, got ' .. #ARGV) end
  a.repo = repo_arg(10 + 7 * a.n)
  local sum = 0
  for i = 1, a.n do
    local at = 10 + 7 * (i - 1)
    local line = {
      model = text_arg(at, 'line ' .. i .. ' model', 256),
      cost = int_arg(at + 1, 'line ' .. i .. ' cost (nano-USD)', 0, MAX_CALL_NANO),
      fields = json_arg(at + 6, 'line ' .. i .. ' event fields'),
      at = at,
    }
    for j, name in ipairs({'input', 'output', 'cache write', 'cache read'}) do
      int_arg(at + 1 + j, 'line ' .. i .. ' ' .. name .. ' tokens', 0, MAX_TOKENS)
    end
    sum = sum + line.cost
    a.lines[i] = line
  end
  if sum > MAX_CALL_NANO then bad_arg('cost (nano-USD)', 'the lines add up to more than ' .. int_str(MAX_CALL_NANO)) end
  a.cost = sum
  return a
end)
if err then return err end
local res_id, wf = A.res_id, A.wf

local prior = redis.call('GET', KEYS[3])
if prior and string.sub(prior, 1, 8) == 'settled ' then
  local out = {'dup'}
  for word in string.gmatch(string.sub(prior, 9), '%S+') do out[#out + 1] = word end
  return out
end

-- every argument is good: from here on the script writes
local amount = drop_hold(KEYS[2], KEYS[1], res_id)
local over = A.cost
if amount then over = math.max(0, A.cost - tonumber(amount)) end
local cost_s, over_s = int_str(A.cost), int_str(over)

local stats = KEYS[7]
redis.call('HINCRBY', stats, 'calls|' .. wf, 1)
redis.call('HINCRBY', stats, 'tasks|' .. wf, 1)
redis.call('HINCRBY', stats, 'agent_runs|' .. wf, 1)
if not amount then redis.call('HINCRBY', stats, 'settled_without_hold|' .. wf, 1) end
if over > 0 then
  redis.call('HINCRBY', stats, 'over_hold|' .. wf, 1)
  redis.call('HINCRBY', stats, 'over_hold_nano|' .. wf, over_s)
end
if A.usage_missing then redis.call('HINCRBY', stats, 'usage_missing|' .. wf, 1) end
local repo = A.repo
if repo ~= '' then redis.call('HINCRBY', stats, 'repo_calls|' .. repo, 1) end

local minid = stream_minid(A.event_retention)
local first_event = ''
for i, line in ipairs(A.lines) do
  local at, model, c = line.at, line.model, ARGV[line.at + 1]
  redis.call('INCRBY', KEYS[4], c)
  redis.call('INCRBY', KEYS[5], c)
  redis.call('INCRBY', KEYS[6], c)
  redis.call('HINCRBY', stats, 'cost|' .. wf, c)
  redis.call('HINCRBY', stats, 'calls|' .. wf .. '|' .. model, 1)
  redis.call('HINCRBY', stats, 'cost|' .. wf .. '|' .. model, c)
  redis.call('HINCRBY', stats, 'tok_in|' .. wf, ARGV[at + 2])
  redis.call('HINCRBY', stats, 'tok_out|' .. wf, ARGV[at + 3])
  redis.call('HINCRBY', stats, 'tok_cw|' .. wf, ARGV[at + 4])
  redis.call('HINCRBY', stats, 'tok_cr|' .. wf, ARGV[at + 5])
  redis.call('HINCRBY', stats, 'day_cost|' .. wf .. '|' .. A.dd, c)
  if repo ~= '' then
    redis.call('INCRBY', KEYS[9], c)
    redis.call('HINCRBY', stats, 'repo_cost|' .. repo, c)
  end
  local fixed = {'type', 'call', 'ts_ms', ARGV[2], 'reservation', res_id, 'cost_nano', c, 'outcome', 'ok',
    'model', model, 'repo', repo}
  if i == 1 and over > 0 then
    fixed[#fixed + 1] = 'over_hold_nano'
    fixed[#fixed + 1] = over_s
  end
  if A.usage_missing then
    fixed[#fixed + 1] = 'usage_missing'
    fixed[#fixed + 1] = '1'
  end
  -- the line's fields first, then the run's: both are the caller's, checked above
  local fields = line.fields
  for name, value in pairs(A.fields) do fields[name] = value end
  local id = add_event(KEYS[8], minid, fixed, fields)
  if i == 1 then first_event = id end
end
redis.call('PEXPIRE', KEYS[6], A.retention)
local spent = redis.call('MGET', KEYS[4], KEYS[5], KEYS[6])

local result = {cost_s, spent[1], spent[2], spent[3], amount and '1' or '0', over_s, first_event}
redis.call('SET', KEYS[3], 'settled ' .. table.concat(result, ' '), 'PX', A.retention)
return {'ok', unpack(result)}

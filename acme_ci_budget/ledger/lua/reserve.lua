-- reserve.lua: check every money, session and loop-step limit against spent + held + this
-- request's worst case and, if all fit, hold that amount on every counter; else record the block.
-- One round trip. Checks every argument first, then purges expired holds, so a crashed worker's
-- hold lives at most its TTL past the next reserve or status read.
--
-- Budget pressure is decided here, on the counters this script reads, so it is never stale: when
-- the caller offers a cheaper model (ARGV[20..21]) and the org's month spend is past its reserve
-- threshold (or at its limit), or the workflow's month spend is at or past its pressure threshold,
-- the cheaper model's worst case is the one checked and held, and the reply says why.
--
-- KEYS[1]  holds        ZSET  reservation id -> expiry (ms)
-- KEYS[2]  org spent    (month)      KEYS[3]  org held    (month)
-- KEYS[4]  wf spent     (month)      KEYS[5]  wf held     (month)
-- KEYS[6]  wf spent     (day)        KEYS[7]  wf held     (day)
-- KEYS[8]  session HASH (tokens, held_tokens, steps) or the namespace's no-session key
-- KEYS[9]  task HASH (steps) or the namespace's no-task key
-- KEYS[10] hold HASH for this reservation
-- KEYS[11] stats HASH of the month
-- KEYS[12] events STREAM
-- KEYS[13] the alert module's open PagerDuty incidents HASH (only its length is read)
-- KEYS[14] repo spent   (month)      KEYS[15] repo held   (month)   (the namespace's no-repo key when
--          ARGV[24] is '': never read or written then)
-- ARGV[1]  now (ms, from the ledger's clock)    ARGV[2]  hold TTL (ms)
-- ARGV[3]  reservation id                       ARGV[4]  worst-case cost (nano-USD)
-- ARGV[5]  org monthly limit (nano)             ARGV[6]  wf monthly limit (nano)
-- ARGV[7]  wf daily limit (nano)                ARGV[8]  this request's tokens (input + max output)
-- ARGV[9]  session hard token limit (0: no session)
-- ARGV[10] block reason decided before Redis ('' : none), recorded as a block
-- ARGV[11] workflow id      ARGV[12] key prefix (acb:{ns}:)     ARGV[13] event retention (ms)
-- ARGV[14] day-key TTL (ms) ARGV[15] max loop steps (0: unchecked)
-- ARGV[16] how many event fields follow ARGV[25]: n name/value pairs, the last 2n arguments
-- ARGV[17] has task (1/0)   ARGV[18] day (YYYY-MM-DD)           ARGV[19] month (YYYY-MM)
-- ARGV[20] the cheaper model's worst case (nano-USD) ('' : no budget-pressure choice to make)
-- ARGV[21] the cheaper model (named in the block event when it is the one refused)
-- ARGV[22] org reserve threshold (nano): the org is in its reserve when its month spend is past it
-- ARGV[23] workflow pressure threshold (nano): under pressure when its month spend reaches it ('' : never)
-- ARGV[24] repository (owner/name) the call is attributed to ('' : none known); every event names it
-- ARGV[25] the repository's monthly cap (nano) ('' : none; its counters still move)
-- Returns {allowed, reason, org_spent, org_held, wf_month_spent, wf_month_held, wf_day_spent,
--          wf_day_held, session_tokens, session_held_tokens, purged, pressure, open_incidents,
--          repo_spent, repo_held}: the counters as read BEFORE this hold, as strings; pressure is ''
-- (the offered model's worst case was used), 'org_reserve' or 'workflow_month' (the cheaper model's
-- was); the repo counters are '0' when no repository is named.
-- Run again with the same reservation id (a client retried a reserve whose reply was lost) when its
-- hold exists or the id was already settled, released or expired: nothing more is held or counted,
-- and the reply is allowed, as the first run's was, with a 16th element, 'again': the counters before
-- the first run's hold (less its amount while it lasts), pressure as the spend says now. To tell, it
-- also reads the id's result marker (prefix .. 'res:' .. id, same hash tag: the key settle writes).

local A, err = checked(function()
  want_keys(15)
  local a = {
    now = int_arg(1, 'now (ms)', 0, MAX_MS),
    ttl = int_arg(2, 'hold TTL (ms)', 1, MAX_TTL_MS),
    res_id = id_arg(3, 'reservation id'),
    amount_n = int_arg(4, 'worst-case cost (nano-USD)', 0, MAX_CALL_NANO),
    org_limit = money_arg(5, 'org monthly limit (nano-USD)'),
    month_limit = money_arg(6, 'monthly limit (nano-USD)'),
    day_limit = money_arg(7, 'daily limit (nano-USD)'),
    tokens = int_arg(8, 'request tokens', 0, MAX_TOKENS),
    session_limit = int_arg(9, 'session token limit', 0, MAX_TOKENS),
    reason = text_arg(10, 'block reason', 64, true),
    wf = text_arg(11, 'workflow id', 256),
    prefix = prefix_arg(12),
    event_retention = int_arg(13, 'event retention (ms)', 1, MAX_RETENTION_MS),
    day_ttl = int_arg(14, 'day-key TTL (ms)', 1, MAX_RETENTION_MS),
    max_steps = int_arg(15, 'max loop steps', 0, MAX_TOKENS),
    fields = fields_arg(16, 'event fields', 25),
    has_task = flag_arg(17, 'has task'),
    day = match_arg(18, 'day', '^%d%d%d%d%-%d%d%-%d%d$'),
    month = match_arg(19, 'month', '^%d%d%d%d%-%d%d$'),
    cheap_model = text_arg(21, 'cheaper model', 256, true),
    org_pressure = money_arg(22, 'org reserve threshold (nano-USD)'),
  }
  if ARGV[20] ~= '' then
    a.cheap_amount = int_arg(20, 'cheaper worst-case cost (nano-USD)', 0, MAX_CALL_NANO)
    if a.cheap_model == '' then bad_arg('cheaper model', 'empty, with a cheaper worst case given') end
  end
  if ARGV[23] ~= '' then a.wf_pressure = money_arg(23, 'workflow pressure threshold (nano-USD)') end
  a.repo = repo_arg(24)
  if ARGV[25] ~= '' then
    if a.repo == '' then bad_arg('repository', 'empty, with a repository cap given') end
    a.repo_limit = money_arg(25, 'repository monthly cap (nano-USD)')
  end
  if a.reason ~= '' and not ({unknown_workflow = true, task_token_limit_exceeded = true,
      session_token_limit_exceeded = true, loop_step_limit_exceeded = true, total_org_budget_exceeded = true,
      monthly_limit_exceeded = true, daily_limit_exceeded = true, repo_limit_exceeded = true})[a.reason] then
    bad_arg('block reason', 'unknown reason ' .. shown(a.reason))
  end
  return a
end)
if err then return err end
local res_id, amount, wf, prefix, repo = A.res_id, ARGV[4], A.wf, A.prefix, A.repo
local tokens, session_limit, reason, max_steps, has_task = A.tokens, A.session_limit, A.reason, A.max_steps,
  A.has_task
local day_ttl = ARGV[14]

-- every argument is good: from here on the script writes
local purged = purge_expired(KEYS[1], prefix, ARGV[1], KEYS[12], A.event_retention, 100, day_ttl)

-- The same reservation id again (a client retried the reserve when its reply was lost): its hold exists,
-- or its id was already settled, released or expired (the result marker). It holds nothing more.
local again = reason == '' and call('EXISTS', KEYS[10], prefix .. 'res:' .. res_id) > 0

-- c[7], c[8]: the repository's month spent and held (the no-repo key, never written, reads as 0)
local c = call('MGET', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[14], KEYS[15])
for i = 1, 8 do c[i] = c[i] or '0' end

-- Budget pressure, on spent (not held) money, as the status read reports it.
local pressure = ''
if A.cheap_amount then
  if over_limit(A.org_pressure, c[1], '0') or not over_limit(c[1], A.org_limit, '0') then
    pressure = 'org_reserve'
  elseif A.wf_pressure and not over_limit(c[3], A.wf_pressure, '0') then
    pressure = 'workflow_month'
  end
end
local replace = nil
if pressure ~= '' then
  amount = ARGV[20]
  replace = {model = A.cheap_model}
end
local has_session = session_limit > 0
local s_tok, s_held, s_steps = '0', '0', '0'
if has_session then
  local sess = call('HMGET', KEYS[8], 'tokens', 'held_tokens', 'steps')
  s_tok, s_held, s_steps = sess[1] or '0', sess[2] or '0', sess[3] or '0'
end
local t_steps = 0
if has_task then t_steps = call('HGET', KEYS[9], 'steps') or 0 end

if reason == '' and not again then
  if max_steps > 0 and has_session and s_steps + 1 > max_steps then
    reason = 'loop_step_limit_exceeded'
  elseif max_steps > 0 and has_task and t_steps + 1 > max_steps then
    reason = 'loop_step_limit_exceeded'
  elseif has_session and s_tok + s_held + tokens > session_limit then
    reason = 'session_token_limit_exceeded'
  elseif over_limit(A.org_limit, c[1], c[2], amount) then
    reason = 'total_org_budget_exceeded'
  elseif over_limit(A.month_limit, c[3], c[4], amount) then
    reason = 'monthly_limit_exceeded'
  elseif over_limit(A.day_limit, c[5], c[6], amount) then
    reason = 'daily_limit_exceeded'
  elseif A.repo_limit and over_limit(A.repo_limit, c[7], c[8], amount) then
    reason = 'repo_limit_exceeded'
  end
end

if again then
  -- As the first run's reply would have said: the counters before its hold (each counter the hold is
  -- on, as it recorded them, less its amount; the session's held tokens less its tokens).
  local hold = call('HMGET', KEYS[10], 'amount', 'org_held', 'month_held', 'day_held', 'session', 'tokens',
    'repo_held')
  if hold[1] then
    local minus = '-' .. hold[1]
    for i, key in pairs({[2] = KEYS[3], [3] = KEYS[5], [4] = KEYS[7], [7] = KEYS[15]}) do
      if hold[i] == key then
        local at = i == 7 and 8 or 2 * (i - 1)
        c[at] = sum_str(c[at], minus)
      end
    end
    if has_session and hold[5] == KEYS[8] then s_held = sum_str(s_held, '-' .. (hold[6] or '0')) end
  end
  return {1, '', c[1], c[2], c[3], c[4], c[5], c[6], s_tok, s_held, purged, pressure, call('HLEN', KEYS[13]),
    c[7], c[8], 'again'}
end

local counters = {c[1], c[2], c[3], c[4], c[5], c[6], s_tok, s_held, purged, pressure, call('HLEN', KEYS[13]),
  c[7], c[8]}
if reason ~= '' then
  call('HINCRBY', KEYS[11], 'blocked|' .. wf .. '|' .. reason, '1')
  if repo ~= '' then call('HINCRBY', KEYS[11], 'repo_blocked|' .. repo .. '|' .. reason, '1') end
  add_event(KEYS[12], stream_minid(A.event_retention), {'type', 'block', 'ts_ms', ARGV[1], 'reservation', res_id,
    'reason', reason, 'outcome', 'blocked', 'cost_nano', '0', 'repo', repo}, A.fields, replace)
  return {0, reason, unpack(counters)}
end

call('INCRBY', KEYS[3], amount)
call('INCRBY', KEYS[5], amount)
call('INCRBY', KEYS[7], amount)
call('PEXPIRE', KEYS[7], day_ttl)
local repo_held = ''
if repo ~= '' then
  repo_held = KEYS[15]
  call('INCRBY', KEYS[15], amount)
end
local session_key = ''
if has_session then
  session_key = KEYS[8]
  -- both fields in one HSET: the values read above in this script, plus this request (a session's
  -- tokens stay within its limit, far below 2^53)
  call('HSET', KEYS[8], 'held_tokens', int_str(s_held + tokens), 'steps', int_str(s_steps + 1))
  call('PEXPIRE', KEYS[8], day_ttl)
end
if has_task then
  call('HINCRBY', KEYS[9], 'steps', '1')
  call('PEXPIRE', KEYS[9], day_ttl)
end
-- No PEXPIRE on the hold hash: it is deleted with its index entry (settle, release or purge).
call('HSET', KEYS[10], 'amount', amount, 'org_held', KEYS[3], 'month_held', KEYS[5], 'day_held', KEYS[7],
  'session', session_key, 'tokens', ARGV[8], 'workflow', wf, 'day', A.day, 'month', A.month,
  'repo', repo, 'repo_held', repo_held)
call('ZADD', KEYS[1], int_str(A.now + A.ttl), res_id)
return {1, '', unpack(counters)}

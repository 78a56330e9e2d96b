-- reserve_run.lua: hold money for an agent run (a Claude Code run), whose cost is only known at its
-- end: the least of what the caller asks for and the room left under every money limit (the org's
-- month, the workflow's month, the workflow's day: limit - spent - held), decided and held in one
-- round trip, so racing runs never hold more than the room. Refused when that room is below the
-- caller's minimum (a run too small to be of use), naming the tightest limit. Checks every argument
-- first, then purges expired holds (as reserve.lua does).
--
-- The hold is an ordinary hold (index entry + HASH, given back by settle, release or purge); beside
-- it a run record (workflow, day, month, amount, the event fields) outlives it for the retention, so
-- a settle in another process (the action's `settle` step) finds the run's counters even when the
-- hold itself expired.
--
-- KEYS[1]  holds ZSET  reservation id -> expiry (ms)
-- KEYS[2]  org spent (month)   KEYS[3]  org held (month)
-- KEYS[4]  wf spent (month)    KEYS[5]  wf held (month)
-- KEYS[6]  wf spent (day)      KEYS[7]  wf held (day)
-- KEYS[8]  hold HASH for this reservation
-- KEYS[9]  run record HASH for this reservation
-- KEYS[10] stats HASH of the month
-- KEYS[11] events STREAM
-- KEYS[12] repo spent (month)  KEYS[13] repo held (month)  (the namespace's no-repo key when ARGV[17] is '')
-- ARGV[1]  now (ms, from the ledger's clock)   ARGV[2]  hold TTL (ms)
-- ARGV[3]  reservation id                      ARGV[4]  requested amount (nano-USD)
-- ARGV[5]  minimum useful amount (nano-USD, <= requested)
-- ARGV[6]  org monthly limit (nano)   ARGV[7]  wf monthly limit (nano)   ARGV[8]  wf daily limit (nano)
-- ARGV[9]  workflow id    ARGV[10] key prefix (acb:{ns}:)    ARGV[11] event retention (ms)
-- ARGV[12] day-key TTL (ms)   ARGV[13] event fields (a JSON object of strings)
-- ARGV[14] day (YYYY-MM-DD)   ARGV[15] month (YYYY-MM)       ARGV[16] run-record TTL (ms)
-- ARGV[17] repository (owner/name) the run is attributed to ('' : none known)
-- ARGV[18] the repository's monthly cap (nano) ('' : none): its room is a fourth limit, after the day
-- Returns {allowed, reason, held, org_spent, org_held, wf_month_spent, wf_month_held, wf_day_spent,
--          wf_day_held, purged}: money as strings, the counters as read BEFORE this hold; held is
-- '0' when refused. Run again with the same reservation id (a retried reserve): nothing more is held
-- and the reply is the first run's shape with an 11th element, 'again' (held: the first run's amount;
-- the counters less its hold while it lasts). To tell, it also reads the id's result marker
-- (prefix .. 'res:' .. id, same hash tag: the key purge_expired writes).

local A, err = checked(function()
  want_keys(13)
  local a = {
    now = int_arg(1, 'now (ms)', 0, MAX_MS),
    ttl = int_arg(2, 'hold TTL (ms)', 1, MAX_TTL_MS),
    res_id = id_arg(3, 'reservation id'),
    requested = int_arg(4, 'requested amount (nano-USD)', 1, MAX_CALL_NANO),
    minimum = int_arg(5, 'minimum amount (nano-USD)', 1, MAX_CALL_NANO),
    org_limit = money_arg(6, 'org monthly limit (nano-USD)'),
    month_limit = money_arg(7, 'monthly limit (nano-USD)'),
    day_limit = money_arg(8, 'daily limit (nano-USD)'),
    wf = text_arg(9, 'workflow id', 256),
    prefix = prefix_arg(10),
    event_retention = int_arg(11, 'event retention (ms)', 1, MAX_RETENTION_MS),
    day_ttl = int_arg(12, 'day-key TTL (ms)', 1, MAX_RETENTION_MS),
    fields = json_arg(13, 'event fields'),
    day = match_arg(14, 'day', '^%d%d%d%d%-%d%d%-%d%d$'),
    month = match_arg(15, 'month', '^%d%d%d%d%-%d%d$'),
    record_ttl = int_arg(16, 'run-record TTL (ms)', 1, MAX_RETENTION_MS),
    repo = repo_arg(17),
  }
  if ARGV[18] ~= '' then
    if a.repo == '' then bad_arg('repository', 'empty, with a repository cap given') end
    a.repo_limit = money_arg(18, 'repository monthly cap (nano-USD)')
  end
  if a.minimum > a.requested then bad_arg('minimum amount (nano-USD)', 'above the requested amount') end
  return a
end)
if err then return err end
local wf, res_id = A.wf, A.res_id

-- every argument is good: from here on the script writes
local purged = purge_expired(KEYS[1], A.prefix, ARGV[1], KEYS[11], A.event_retention, 100, ARGV[12])

-- c[7], c[8]: the repository's month spent and held (the no-repo key, never written, reads as 0)
local c = redis.call('MGET', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[12], KEYS[13])
for i = 1, 8 do c[i] = c[i] or '0' end
local repo = A.repo

-- The same reservation id again (a client retried it when its reply was lost): its hold or run record
-- exists, or its id was already settled or expired (the result marker). It holds nothing more and
-- answers as the first run did: what it held, the counters before its hold, and 'again'.
if redis.call('EXISTS', KEYS[8], KEYS[9], A.prefix .. 'res:' .. res_id) > 0 then
  local hold = redis.call('HMGET', KEYS[8], 'amount', 'org_held', 'month_held', 'day_held')
  local held = hold[1] or redis.call('HGET', KEYS[9], 'held_nano') or '0'
  if hold[1] then
    for i, key in pairs({[2] = KEYS[3], [3] = KEYS[5], [4] = KEYS[7]}) do
      if hold[i] == key then c[2 * (i - 1)] = sum_str(c[2 * (i - 1)], '-' .. hold[1]) end
    end
  end
  return {1, '', held, c[1], c[2], c[3], c[4], c[5], c[6], purged, 'again'}
end

-- a - b for two totals (either may be negative: a limit can be overspent by a settle above its hold)
local function minus(a, b)
  local high, low = a[1] - b[1], a[2] - b[2]
  local carry = math.floor(low / E9)
  return {high + carry, low - carry * E9}
end

-- The room under each limit, tightest first on ties in reserve.lua's order (org, month, day).
local rooms = {
  {minus(total(A.org_limit), total(c[1], c[2])), 'total_org_budget_exceeded'},
  {minus(total(A.month_limit), total(c[3], c[4])), 'monthly_limit_exceeded'},
  {minus(total(A.day_limit), total(c[5], c[6])), 'daily_limit_exceeded'},
}
if A.repo_limit then rooms[4] = {minus(total(A.repo_limit), total(c[7], c[8])), 'repo_limit_exceeded'} end
local room, tightest = rooms[1][1], rooms[1][2]
for i = 2, #rooms do
  if exceeds(room, rooms[i][1]) then room, tightest = rooms[i][1], rooms[i][2] end
end

local counters = {c[1], c[2], c[3], c[4], c[5], c[6], purged}
if exceeds(total(ARGV[5]), room) then
  redis.call('HINCRBY', KEYS[10], 'blocked|' .. wf .. '|' .. tightest, 1)
  if repo ~= '' then redis.call('HINCRBY', KEYS[10], 'repo_blocked|' .. repo .. '|' .. tightest, 1) end
  add_event(KEYS[11], stream_minid(A.event_retention), {'type', 'block', 'ts_ms', ARGV[1], 'reservation', res_id, 'reason', tightest,
    'outcome', 'blocked', 'cost_nano', '0', 'requested_nano', ARGV[4], 'repo', repo}, A.fields)
  return {0, tightest, '0', unpack(counters)}
end

-- room >= minimum >= 1 here; below the request it is below MAX_CALL_NANO, so exact as a double
local held = ARGV[4]
if exceeds(total(ARGV[4]), room) then held = int_str(room[1] * E9 + room[2]) end

redis.call('INCRBY', KEYS[3], held)
redis.call('INCRBY', KEYS[5], held)
redis.call('INCRBY', KEYS[7], held)
redis.call('PEXPIRE', KEYS[7], A.day_ttl)
local repo_held = ''
if repo ~= '' then
  repo_held = KEYS[13]
  redis.call('INCRBY', KEYS[13], held)
end
-- No PEXPIRE on the hold hash: it is deleted with its index entry (settle, release or purge).
redis.call('HSET', KEYS[8], 'amount', held, 'org_held', KEYS[3], 'month_held', KEYS[5], 'day_held', KEYS[7],
  'session', '', 'tokens', '0', 'workflow', wf, 'day', A.day, 'month', A.month, 'repo', repo,
  'repo_held', repo_held)
redis.call('ZADD', KEYS[1], int_str(A.now + A.ttl), res_id)
redis.call('HSET', KEYS[9], 'workflow', wf, 'day', A.day, 'month', A.month, 'held_nano', held,
  'requested_nano', ARGV[4], 'expires_ms', int_str(A.now + A.ttl), 'fields', ARGV[13], 'repo', repo)
redis.call('PEXPIRE', KEYS[9], A.record_ttl)
return {1, '', held, unpack(counters)}

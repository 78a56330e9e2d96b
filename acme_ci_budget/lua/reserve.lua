-- reserve.lua: check every money and session limit against spent + held + this request's
-- worst case and, if all fit, hold that amount on every counter; else record the block.
-- One round trip. Purges expired holds first, so a crashed worker's hold lives at most its TTL.
--
-- KEYS[1]  holds        ZSET  reservation id -> expiry (ms)
-- KEYS[2]  org spent    (month)      KEYS[3]  org held    (month)
-- KEYS[4]  wf spent     (month)      KEYS[5]  wf held     (month)
-- KEYS[6]  wf spent     (day)        KEYS[7]  wf held     (day)
-- KEYS[8]  session HASH (tokens, held_tokens, steps) or the namespace's no-session key
-- KEYS[9]  hold HASH for this reservation
-- KEYS[10] stats HASH of the month
-- KEYS[11] events STREAM
-- ARGV[1]  now (ms, from the ledger's clock)    ARGV[2]  hold TTL (ms)
-- ARGV[3]  reservation id                       ARGV[4]  worst-case cost (nano-USD)
-- ARGV[5]  org monthly limit (nano)             ARGV[6]  wf monthly limit (nano)
-- ARGV[7]  wf daily limit (nano)                ARGV[8]  this request's tokens (input + max output)
-- ARGV[9]  session hard token limit (0: no session)
-- ARGV[10] block reason decided before Redis ('' : none), recorded as a block
-- ARGV[11] workflow id      ARGV[12] key prefix (acb:{ns}:)     ARGV[13] event retention (ms)
-- ARGV[14] day-key TTL (ms) ARGV[15] max loop steps (0: unchecked)
-- ARGV[16] event fields for a block (a JSON object)
-- Returns {allowed, reason, org_spent, org_held, wf_month_spent, wf_month_held,
--          wf_day_spent, wf_day_held, session_tokens, session_held_tokens, purged}

local now = tonumber(ARGV[1])
local minid = stream_minid(ARGV[13])
local purged = purge_expired(KEYS[1], ARGV[12], now, KEYS[11], minid)

local c = redis.call('MGET', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
local org_s, org_h = tonumber(c[1] or '0'), tonumber(c[2] or '0')
local m_s, m_h = tonumber(c[3] or '0'), tonumber(c[4] or '0')
local d_s, d_h = tonumber(c[5] or '0'), tonumber(c[6] or '0')
local has_session = tonumber(ARGV[9]) > 0
local sess = {'0', '0', '0'}
if has_session then
  sess = redis.call('HMGET', KEYS[8], 'tokens', 'held_tokens', 'steps')
end
local s_tok, s_held, s_steps = tonumber(sess[1] or '0'), tonumber(sess[2] or '0'), tonumber(sess[3] or '0')

local amount = tonumber(ARGV[4])
local tokens = tonumber(ARGV[8])
local reason = ARGV[10]
if reason == '' then
  if has_session and tonumber(ARGV[15]) > 0 and s_steps + 1 > tonumber(ARGV[15]) then
    reason = 'loop_step_limit_exceeded'
  elseif has_session and s_tok + s_held + tokens > tonumber(ARGV[9]) then
    reason = 'session_token_limit_exceeded'
  elseif org_s + org_h + amount > tonumber(ARGV[5]) then
    reason = 'total_org_budget_exceeded'
  elseif m_s + m_h + amount > tonumber(ARGV[6]) then
    reason = 'monthly_limit_exceeded'
  elseif d_s + d_h + amount > tonumber(ARGV[7]) then
    reason = 'daily_limit_exceeded'
  end
end

if reason ~= '' then
  redis.call('HINCRBY', KEYS[10], 'blocked|' .. ARGV[11] .. '|' .. reason, 1)
  add_event(KEYS[11], minid, {'type', 'block', 'ts_ms', ARGV[1], 'reservation', ARGV[3], 'reason', reason,
    'outcome', 'blocked', 'cost_nano', 0}, ARGV[16])
  return {0, reason, org_s, org_h, m_s, m_h, d_s, d_h, s_tok, s_held, purged}
end

redis.call('INCRBY', KEYS[3], amount)
redis.call('INCRBY', KEYS[5], amount)
redis.call('INCRBY', KEYS[7], amount)
redis.call('PEXPIRE', KEYS[7], ARGV[14])
local session_key = ''
if has_session then
  session_key = KEYS[8]
  redis.call('HINCRBY', KEYS[8], 'held_tokens', tokens)
  redis.call('HINCRBY', KEYS[8], 'steps', 1)
  redis.call('PEXPIRE', KEYS[8], ARGV[14])
end
local ttl = tonumber(ARGV[2])
redis.call('HSET', KEYS[9], 'amount', amount, 'org_held', KEYS[3], 'month_held', KEYS[5], 'day_held', KEYS[7],
  'session', session_key, 'tokens', tokens, 'workflow', ARGV[11])
-- the hash outlives its ZSET entry so that a late purge still finds what to give back
redis.call('PEXPIRE', KEYS[9], ttl * 2 + 60000)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
return {1, '', org_s, org_h + amount, m_s, m_h + amount, d_s, d_h + amount, s_tok, s_held + tokens, purged}

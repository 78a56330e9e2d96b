-- Shared prelude, part 1 (prepended to every script when it is loaded; not a script on its own):
-- argument checks and exact money sums.
--
-- Every script checks ALL of its arguments before its first write. Redis does not roll a script
-- back, so an argument found bad halfway through would leave counters half-updated; here a bad
-- argument becomes an error reply naming it ("acb: bad argument ..."), and nothing is written.
--
-- Money is integer nano-USD. Lua numbers are doubles, exact only up to 2^53 nano-USD (about
-- $9 million), and tostring() keeps 14 significant digits (rounding anything past $100,000).
-- So money crosses the script boundary as decimal strings, counters are added with INCRBY/DECRBY
-- on those strings, limits are compared exactly (as doubles while every figure has at most 15
-- digits, else with the split arithmetic below: over_limit), and replies carry money as strings,
-- never through cjson.encode or tostring of a number.

-- Cost (each script runs on every model call; measured by scripts/bench_scripts.py): the globals used
-- on every run are locals here (a global is a table lookup each time); numbers reach redis.call as the
-- strings the caller sent where there is one (a number argument is formatted with sprintf first);
-- `s + 0` converts a string checked as digits (tonumber converts it twice); and integers become
-- strings with '%d', not '%.0f' (half the cost, exact below 2^53).
local call, find, format, sub, tonumber, floor = redis.call, string.find, string.format, string.sub, tonumber,
  math.floor
local KEYS, ARGV = KEYS, ARGV

local MAX_MS = 253402300799999        -- 9999-12-31T23:59:59.999Z
local MAX_TTL_MS = 86400000           -- a hold lives at most a day
local MAX_RETENTION_MS = 345600000000 -- 4,000 days: more than the 10 years config allows
local MAX_CALL_NANO = 1000000000000000 -- $1,000,000: one call's worst case, far above any real one
local MAX_TOKENS = 1000000000000      -- per call or per session, far above any model's window
local EXACT = 9007199254740992        -- 2^53: doubles hold every integer below it

local function bad_arg(name, why)
  error('ERR acb: bad argument ' .. name .. ': ' .. why, 0)
end

-- Run a script's argument checks (a function returning what it read); the first failure becomes the
-- script's error reply: `local A, err = checked(function() ... end) if err then return err end`.
local function checked(read)
  local ok, result = pcall(read)
  if not ok then return nil, redis.error_reply(tostring(result)) end
  return result, nil
end

local function shown(value)
  return sub(tostring(value), 1, 40)
end

local function want_keys(n, at_least)
  if #KEYS ~= n and not (at_least and #KEYS > n) then
    bad_arg('KEYS', 'expected ' .. n .. (at_least and ' or more' or '') .. ' keys, got ' .. #KEYS)
  end
end

-- An integer argument in [lo, hi] (bounds within 2^53, where doubles are exact), written as Redis
-- writes integers (no leading zero, no '-0'): the scripts pass some on to Redis commands as sent.
-- ARGV holds strings (nil past its end).
local function int_arg(i, name, lo, hi)
  local s = ARGV[i]
  if not s or #s > 16 or not (find(s, '^%-?[1-9]%d*$') or s == '0') then
    bad_arg(name, 'not an integer: ' .. shown(s))
  end
  local n = s + 0
  if n < lo or n > hi then
    bad_arg(name, s .. ' is outside [' .. format('%.0f', lo) .. ', ' .. format('%.0f', hi) .. ']')
  end
  return n
end

-- A money limit: a non-negative integer nano-USD amount of at most 18 digits, kept as its string.
local function money_arg(i, name)
  local s = ARGV[i]
  if not s or #s > 18 or not find(s, '^%d+$') then
    bad_arg(name, 'not a non-negative integer of at most 18 digits: ' .. shown(s))
  end
  return s
end

local function text_arg(i, name, max_len, allow_empty)
  local s = ARGV[i]
  if not s then bad_arg(name, 'missing') end
  if #s == 0 and not allow_empty then bad_arg(name, 'empty') end
  if #s > max_len then bad_arg(name, 'longer than ' .. max_len .. ' bytes') end
  return s
end

local function match_arg(i, name, pattern)
  local s = ARGV[i]
  if not s or not find(s, pattern) then bad_arg(name, 'malformed: ' .. shown(s)) end
  return s
end

local function flag_arg(i, name)
  local s = ARGV[i]
  if s ~= '0' and s ~= '1' then bad_arg(name, 'must be 0 or 1, got ' .. shown(s)) end
  return s == '1'
end

local function id_arg(i, name)
  local s = text_arg(i, name, 128)
  if not find(s, '^[%w_%-%.:]+$') then bad_arg(name, 'not an id: ' .. shown(s)) end
  return s
end

-- The key prefix, checked against the holds key every script gets as KEYS[1].
local function prefix_arg(i)
  local p = text_arg(i, 'key prefix', 200)
  if KEYS[1] ~= p .. 'holds' then bad_arg('key prefix', 'KEYS[1] is not ' .. shown(p) .. 'holds') end
  return p
end

-- The caller's event fields: a JSON object of string values (decoded now, before any write). The scripts
-- off the per-call path take them so; reserve, settle and release take flat pairs (fields_arg).
local function json_arg(i, name)
  local s = ARGV[i]
  if type(s) ~= 'string' then bad_arg(name, 'missing') end
  if s == '' then return {} end
  local ok, value = pcall(cjson.decode, s)
  if not ok or type(value) ~= 'table' then bad_arg(name, 'not a JSON object') end
  for k, v in pairs(value) do
    if type(k) ~= 'string' or type(v) ~= 'string' then bad_arg(name, 'field ' .. shown(k) .. ' is not a string') end
  end
  return value
end

-- The caller's event fields, on the per-call path: ARGV[i] is how many (n), and they are the script's LAST 2n arguments, each
-- name then value, after its `fixed` arguments. Flat strings, not a JSON object: decoding one with cjson
-- was two thirds of a script's argument checks. Returns the index of the first field's name.
local function fields_arg(i, name, fixed)
  local n = int_arg(i, name .. ' (how many)', 0, 64)
  local first = #ARGV - 2 * n + 1
  if first <= fixed then bad_arg(name, n .. ' name/value pairs do not fit after the ' .. fixed .. ' fixed arguments') end
  for j = first, #ARGV, 2 do
    if ARGV[j] == '' then bad_arg(name, 'a field with an empty name') end
  end
  return first
end

-- Exact sums: an integer string (nil/false: 0) as {high, low} with value = high * 10^9 + low.
-- Each part stays far below 2^53, so adding a few of them and comparing is exact.
local E9 = 1000000000

local function split(s)
  if not s then return {0, 0} end
  local negative = sub(s, 1, 1) == '-'
  local digits = negative and sub(s, 2) or s
  local n = #digits
  local high = n > 9 and tonumber(sub(digits, 1, n - 9)) or 0
  local low = tonumber(sub(digits, -9))
  if negative then return {-high, -low} end
  return {high, low}
end

local function total(...)
  local high, low = 0, 0
  for i = 1, select('#', ...) do
    local part = split((select(i, ...)))
    high, low = high + part[1], low + part[2]
  end
  local carry = floor(low / E9)
  return {high + carry, low - carry * E9}
end

-- a > b for two totals
local function exceeds(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  return a[2] > b[2]
end

-- An integral number as a decimal string: '%d' below 2^53 (where the double is exact), else '%.0f'.
local function int_str(n)
  if n < EXACT and n > -EXACT and n % 1 == 0 then return format('%d', n) end
  return format('%.0f', n)
end

-- A total as an integer string.
local function total_str(t)
  local high, low = t[1], t[2]
  if high < 0 and low > 0 then high, low = high + 1, low - E9 end
  if high == 0 then return int_str(low) end
  return (high < 0 and '-' or '') .. int_str(math.abs(high)) .. format('%09d', math.abs(low))
end

-- a + b + c > limit for integer strings (c may be nil), exactly: as doubles when each has at most 15
-- characters (every sum then stays below 2^53), else as totals. The per-call path's limit checks.
local function over_limit(limit, a, b, c)
  if #a <= 15 and #b <= 15 and #limit <= 15 and (not c or #c <= 15) then
    return a + b + (c or 0) > limit + 0
  end
  return exceeds(total(a, b, c), total(limit))
end

-- a + b for integer strings (nil: 0), exactly, as a string.
local function sum_str(a, b)
  a, b = a or '0', b or '0'
  if #a <= 15 and #b <= 15 then return int_str(a + b) end
  return total_str(total(a, b))
end

-- The repository a call is attributed to: owner/name as GitHub spells them, or '' (none known).
local function repo_arg(i)
  local s = text_arg(i, 'repository', 140, true)
  if s ~= '' and not find(s, '^[%w%-]+/[%w%-%._]+$') then bad_arg('repository', 'not owner/name: ' .. shown(s)) end
  return s
end

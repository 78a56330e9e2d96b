-- claim_cas.lua: compare-and-set one alert channel claim (ledger/claims.py, AlertClaims.swap).
-- Only the holder of the value it read may change the claim: a takeover of a due retry, or the outcome
-- of its own delivery. The claim keeps its expiry (KEEPTTL): it lives until its period ends.
-- Standalone: it reads no ARGV that needs the _args.lua checks (both are opaque strings compared as is).
--
-- KEYS[1] the channel claim (``...alert:<condition>...:to:<channel>``)
-- ARGV[1] the value the caller read   ARGV[2] the value to write
-- Returns 1 when written, 0 when the claim no longer holds ARGV[1] (another process changed it first)

if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1

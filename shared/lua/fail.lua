-- fail: the lease holder reports a failure. Retryable failures wait in the delayed set with
-- the caller's backoff while attempts remain, then go to the dead set; permanent ones fail now.
-- KEYS[1] order hash   KEYS[2] leases zset   KEYS[3] delayed zset   KEYS[4] dead zset
-- KEYS[5] finished zset   KEYS[6] events   KEYS[7] stats   KEYS[8] histograms
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] fencing token   ARGV[6] reason (typed)
-- ARGV[7] error message   ARGV[8] retry delay (ms, backoff with jitter)   ARGV[9] permanent 0|1
-- ARGV[10] retention of finished orders (ms)   ARGV[11] dead set cap   ARGV[12] dead retention (ms)
-- ARGV[13] result JSON or '' (what the worker learned, kept for people to read)
-- Returns {'ok', state, retry_at} | {'fenced', state, holder} | {'missing'}.
local okey, id = KEYS[1], ARGV[4]
local refused = fence(okey, ARGV[5])
if refused then return refused end
local f = redis.call('HMGET', okey, 'attempt', 'max_attempts', 'started_at')
local attempt, max_attempts = tonumber(f[1]), tonumber(f[2])
release_lease(okey, id, KEYS[2])
observe(KEYS[8], 'run', NOW - (tonumber(f[3]) or NOW))
redis.call('HSET', okey, 'reason', ARGV[6], 'error', ARGV[7], 'updated_at', NOW)
if ARGV[13] ~= '' then redis.call('HSET', okey, 'result', ARGV[13]) end
local state, retry_at = nil, 0
if ARGV[9] == '1' then
  state = 'failed'
  finish(okey, id, state, KEYS[5], tonumber(ARGV[10]))
  redis.call('HINCRBY', KEYS[7], 'failed', 1)
elseif attempt < max_attempts then
  state = 'delayed'
  retry_at = NOW + tonumber(ARGV[8])
  redis.call('HSET', okey, 'state', state, 'run_at', retry_at)
  redis.call('ZADD', KEYS[3], retry_at, id)
  redis.call('HINCRBY', KEYS[7], 'retried', 1)
else
  state = 'dead'
  bury(okey, id, KEYS[4], tonumber(ARGV[11]), tonumber(ARGV[12]))
  redis.call('HINCRBY', KEYS[7], 'dead', 1)
end
remember(okey, state, ARGV[6] .. ': ' .. ARGV[7])
emit(KEYS[6], state, id, {'state', state, 'reason', ARGV[6], 'attempt', attempt})
return {'ok', state, tostring(retry_at)}

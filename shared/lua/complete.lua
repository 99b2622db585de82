-- complete: the lease holder reports success. Its branch is pushed; the order either succeeds
-- or waits for a person's approval (supervised definitions).
-- KEYS[1] order hash   KEYS[2] leases zset   KEYS[3] the worker's order set
-- KEYS[4] finished zset   KEYS[5] approvals zset   KEYS[6] events   KEYS[7] stats   KEYS[8] histograms
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] fencing token   ARGV[6] result JSON
-- ARGV[7] new state: succeeded | awaiting_approval   ARGV[8] retention of finished orders (ms)
-- ARGV[9..] field/value pairs to record on the order (the definition and its trust settings,
--           which approve.lua needs)
-- Returns {'ok', state} | {'fenced', state, holder} | {'missing'}.
local okey, id, target = KEYS[1], ARGV[4], ARGV[7]
local refused = fence(okey, ARGV[5])
if refused then return refused end
local state = redis.call('HGET', okey, 'state')
if not may_become(state, target) then return {'conflict', state} end
local started = tonumber(redis.call('HGET', okey, 'started_at')) or NOW
release_lease(okey, id, KEYS[2])
redis.call('HSET', okey, 'result', ARGV[6])
for i = 9, #ARGV - 1, 2 do redis.call('HSET', okey, ARGV[i], ARGV[i + 1]) end
redis.call('HDEL', okey, 'reason', 'error')
observe(KEYS[8], 'run', NOW - started)
if target == 'awaiting_approval' then
  redis.call('HSET', okey, 'state', target, 'updated_at', NOW)
  redis.call('ZADD', KEYS[5], NOW, id)
else
  finish(okey, id, target, KEYS[4], tonumber(ARGV[8]))
end
redis.call('HINCRBY', KEYS[7], target, 1)
remember(okey, target, 'completed')
emit(KEYS[6], target, id, {'state', target})
return {'ok', target}

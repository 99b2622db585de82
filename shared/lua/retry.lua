-- retry: a person sends a dead or failed order round again, with a fresh set of attempts.
-- KEYS[1] order hash   KEYS[2] dead zset   KEYS[3] finished zset   KEYS[4] events   KEYS[5] stats
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] who asked
-- Returns {'ok', previous state} | {'conflict', state} | {'missing'}.
local okey, id = KEYS[1], ARGV[4]
local state = redis.call('HGET', okey, 'state')
if not state then return {'missing'} end
if not may_become(state, 'queued') or (state ~= 'dead' and state ~= 'failed') then
  return {'conflict', state}
end
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
keep_order(okey)
redis.call('HSET', okey, 'attempt', 0)
redis.call('HDEL', okey, 'finished_at', 'run_at')
enqueue_back(okey, id)
redis.call('HINCRBY', KEYS[5], 'manual_retries', 1)
remember(okey, 'queued', 'retried by ' .. ARGV[5] .. ' from ' .. state)
emit(KEYS[4], 'retried', id, {'state', 'queued', 'previous', state, 'by', ARGV[5]})
return {'ok', state}

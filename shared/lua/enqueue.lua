-- enqueue: a new order becomes queued, or delayed when it is scheduled for later.
-- KEYS[1] order hash        fleet:{F}:order:<id>
-- KEYS[2] ready list        fleet:{F}:ready:<type>:<priority>
-- KEYS[3] delayed zset      fleet:{F}:delayed
-- KEYS[4] events stream     fleet:{F}:events
-- KEYS[5] stats hash        fleet:{F}:stats
-- ARGV[1..3] common (now, events maxlen, prefix)
-- ARGV[4] order id   ARGV[5] spec JSON   ARGV[6] task type   ARGV[7] priority
-- ARGV[8] max attempts   ARGV[9] run at (ms; 0 or not after now = ready now)
-- Returns {'ok', state} or {'exists', state}: enqueueing an id twice changes nothing.
local okey, id = KEYS[1], ARGV[4]
if redis.call('EXISTS', okey) == 1 then
  return {'exists', redis.call('HGET', okey, 'state') or ''}
end
local run_at = tonumber(ARGV[9]) or 0
local state = 'queued'
if run_at > NOW then state = 'delayed' end
redis.call('HSET', okey, 'id', id, 'spec', ARGV[5], 'type', ARGV[6], 'priority', ARGV[7],
  'state', state, 'attempt', 0, 'max_attempts', ARGV[8], 'created_at', NOW, 'updated_at', NOW)
if state == 'queued' then
  redis.call('HSET', okey, 'queued_at', NOW)
  redis.call('LPUSH', KEYS[2], id)
  wake(ARGV[6])
else
  redis.call('HSET', okey, 'run_at', run_at)
  redis.call('ZADD', KEYS[3], run_at, id)
end
remember(okey, state, 'enqueued')
emit(KEYS[4], 'enqueued', id, {'state', state, 'type', ARGV[6], 'priority', ARGV[7]})
redis.call('HINCRBY', KEYS[5], 'enqueued', 1)
return {'ok', state}

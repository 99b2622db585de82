-- ask: the lease holder's agent asks a person a question; the order waits for the answer.
-- KEYS[1] order hash   KEYS[2] question hash   fleet:{F}:question:<qid>
-- KEYS[3] pending questions zset   KEYS[4] events
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] fencing token   ARGV[6] question id
-- ARGV[7] question text   ARGV[8] choices (JSON array or '')   ARGV[9] answer deadline (ms)
-- ARGV[10] retention of the question after it closes (ms)
-- Returns {'ok'} | {'exists', state} | {'fenced', state, holder} | {'missing'}.
local okey, qkey, id, qid = KEYS[1], KEYS[2], ARGV[4], ARGV[6]
local refused = fence(okey, ARGV[5])
if refused then return refused end
if redis.call('EXISTS', qkey) == 1 then
  return {'exists', redis.call('HGET', qkey, 'state')}
end
local f = redis.call('HMGET', okey, 'state', 'worker', 'attempt', 'type')
if not may_become(f[1], 'awaiting_clarification') then
  return {'conflict', f[1]}
end
redis.call('HSET', qkey, 'id', qid, 'order', id, 'worker', f[2] or '', 'attempt', f[3] or '',
  'type', f[4] or '', 'text', ARGV[7], 'choices', ARGV[8], 'state', 'pending',
  'asked_at', NOW, 'deadline', ARGV[9], 'token', ARGV[5], 'retention_ms', ARGV[10])
redis.call('ZADD', KEYS[3], NOW, qid)
redis.call('HSET', okey, 'state', 'awaiting_clarification', 'pending_question', qid, 'updated_at', NOW)
remember(okey, 'awaiting_clarification', 'asked: ' .. ARGV[7])
emit(KEYS[4], 'question', id, {'question', qid, 'worker', f[2] or '', 'text', ARGV[7]})
return {'ok'}

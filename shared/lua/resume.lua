-- resume: the asking worker got its answer, or gave up waiting; the order runs again.
-- If the question timed out but a person answered in the meantime, that answer wins.
-- KEYS[1] order hash   KEYS[2] question hash   KEYS[3] pending questions zset   KEYS[4] events
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] fencing token   ARGV[6] question id
-- ARGV[7] outcome: answered | timed_out | default   ARGV[8] default answer text (for default)
-- Returns {'ok', action, text, answered_by, at} | {'fenced', state, holder} | {'missing'}.
local okey, qkey, id, qid = KEYS[1], KEYS[2], ARGV[4], ARGV[6]
local refused = fence(okey, ARGV[5])
if refused then return refused end
local q = redis.call('HMGET', qkey, 'state', 'action', 'answer', 'answered_by', 'answered_at', 'retention_ms')
local action, text, by, at = q[2] or '', q[3] or '', q[4] or '', q[5] or tostring(NOW)
if q[1] == 'pending' then
  if ARGV[7] == 'default' then
    action, text, by, at = 'default', ARGV[8], 'fleet (default answer)', tostring(NOW)
  else
    action, text, by, at = 'timed_out', '', 'fleet (no answer in time)', tostring(NOW)
  end
  redis.call('HSET', qkey, 'state', action, 'action', action, 'answer', text,
    'answered_by', by, 'answered_at', NOW, 'closed_at', NOW)
  redis.call('ZREM', KEYS[3], qid)
end
local retention = tonumber(q[6]) or 86400000
redis.call('PEXPIRE', qkey, retention)
if redis.call('HGET', okey, 'state') == 'awaiting_clarification' then
  redis.call('HSET', okey, 'state', 'running', 'updated_at', NOW)
end
redis.call('HDEL', okey, 'pending_question')
remember(okey, 'running', 'question ' .. qid .. ': ' .. action)
emit(KEYS[4], 'resumed', id, {'question', qid, 'action', action})
return {'ok', action, text, by, at}

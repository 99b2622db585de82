-- answer: a person answers (or declines) a pending question. The answer is delivered to the
-- asking worker through its answer list. Sending the identical answer again is accepted once.
-- KEYS[1] question hash   KEYS[2] pending questions zset   KEYS[3] answer list   KEYS[4] events
-- ARGV[1..3] common   ARGV[4] question id   ARGV[5] action: answered | declined
-- ARGV[6] text   ARGV[7] who answered
-- The asking order's hash is reached through the prefix (named in the question).
-- Returns {'ok'} | {'duplicate'} | {'conflict', state} | {'stale'} | {'missing'}.
local qkey, qid = KEYS[1], ARGV[4]
local q = redis.call('HMGET', qkey, 'state', 'order', 'token', 'action', 'answer', 'retention_ms')
if not q[1] then return {'missing'} end
if q[1] == 'answered' or q[1] == 'declined' then
  if q[4] == ARGV[5] and q[5] == ARGV[6] then return {'duplicate'} end
  return {'conflict', q[1]}
end
if q[1] ~= 'pending' then return {'conflict', q[1]} end
local okey = order_key(q[2])
local o = redis.call('HMGET', okey, 'state', 'token', 'pending_question')
if o[1] ~= 'awaiting_clarification' or o[2] ~= q[3] or o[3] ~= qid then
  -- The asker lost its lease (reaped, cancelled): nobody is waiting for this answer.
  redis.call('HSET', qkey, 'state', 'stale', 'closed_at', NOW)
  redis.call('ZREM', KEYS[2], qid)
  return {'stale'}
end
redis.call('HSET', qkey, 'state', ARGV[5], 'action', ARGV[5], 'answer', ARGV[6],
  'answered_by', ARGV[7], 'answered_at', NOW, 'closed_at', NOW)
redis.call('ZREM', KEYS[2], qid)
local payload = cjson.encode({action = ARGV[5], text = ARGV[6], answered_by = ARGV[7], at = NOW})
redis.call('RPUSH', KEYS[3], payload)
redis.call('PEXPIRE', KEYS[3], tonumber(q[6]) or 86400000)
remember(okey, 'awaiting_clarification', ARGV[5] .. ' by ' .. ARGV[7])
emit(KEYS[4], 'answered', q[2], {'question', qid, 'action', ARGV[5], 'by', ARGV[7]})
return {'ok'}

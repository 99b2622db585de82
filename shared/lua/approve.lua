-- approve: a person accepts the branch a supervised worker pushed; the order succeeds. When the
-- worker's definition allows escalation, N approvals in a row raise its trust level.
-- KEYS[1] order hash   KEYS[2] approvals zset   KEYS[3] finished zset   KEYS[4] events
-- KEYS[5] stats hash
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] who approved   ARGV[6] retention (ms)
-- The definition's trust hash (fleet:{F}:trust:<definition>) is reached through the prefix.
-- Returns {'ok', trust level now or '', 'escalated' or ''} | {'conflict', state} | {'missing'}.
local okey, id = KEYS[1], ARGV[4]
local f = redis.call('HMGET', okey, 'state', 'definition', 'trust_base', 'escalate_after', 'escalate_to')
if not f[1] then return {'missing'} end
if f[1] ~= 'awaiting_approval' or not may_become(f[1], 'succeeded') then return {'conflict', f[1]} end
redis.call('ZREM', KEYS[2], id)
redis.call('HSET', okey, 'approved_by', ARGV[5], 'approved_at', NOW)
finish(okey, id, 'succeeded', KEYS[3], tonumber(ARGV[6]))
redis.call('HINCRBY', KEYS[5], 'approved', 1)
redis.call('HINCRBY', KEYS[5], 'succeeded', 1)
remember(okey, 'succeeded', 'approved by ' .. ARGV[5])
emit(KEYS[4], 'approved', id, {'state', 'succeeded', 'by', ARGV[5]})
local level, escalated = '', ''
if f[2] and f[2] ~= '' then
  local tkey = PREFIX .. 'trust:' .. f[2]
  local streak = redis.call('HINCRBY', tkey, 'approved_in_a_row', 1)
  redis.call('HSET', tkey, 'last_approved_at', NOW)
  level = redis.call('HGET', tkey, 'level') or f[3] or ''
  local after = tonumber(f[4]) or 0
  if after > 0 and streak >= after and level == f[3] and f[5] and f[5] ~= '' then
    level = f[5]
    redis.call('HSET', tkey, 'level', level, 'escalated_at', NOW, 'escalated_from', f[3])
    escalated = 'escalated'
    emit(KEYS[4], 'trust_escalated', id, {'definition', f[2], 'from', f[3], 'to', level,
      'after_approvals', streak})
  end
end
return {'ok', level, escalated}

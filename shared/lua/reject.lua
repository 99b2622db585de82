-- reject: a person refuses the branch a supervised worker pushed; the order fails with reason
-- `rejected`. The definition's approval streak restarts and any escalation is reverted.
-- KEYS[1] order hash   KEYS[2] approvals zset   KEYS[3] finished zset   KEYS[4] events
-- KEYS[5] stats hash
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] who rejected   ARGV[6] why   ARGV[7] retention (ms)
-- Returns {'ok', 'reverted' or ''} | {'conflict', state} | {'missing'}.
local okey, id = KEYS[1], ARGV[4]
local f = redis.call('HMGET', okey, 'state', 'definition', 'trust_base')
if not f[1] then return {'missing'} end
if f[1] ~= 'awaiting_approval' or not may_become(f[1], 'failed') then return {'conflict', f[1]} end
redis.call('ZREM', KEYS[2], id)
redis.call('HSET', okey, 'reason', 'rejected', 'error', 'rejected by ' .. ARGV[5] .. ': ' .. ARGV[6],
  'rejected_by', ARGV[5], 'rejected_at', NOW)
finish(okey, id, 'failed', KEYS[3], tonumber(ARGV[7]))
redis.call('HINCRBY', KEYS[5], 'rejected', 1)
redis.call('HINCRBY', KEYS[5], 'failed', 1)
remember(okey, 'failed', 'rejected by ' .. ARGV[5] .. ': ' .. ARGV[6])
emit(KEYS[4], 'rejected', id, {'state', 'failed', 'by', ARGV[5], 'reason', ARGV[6]})
local reverted = ''
if f[2] and f[2] ~= '' then
  local tkey = PREFIX .. 'trust:' .. f[2]
  redis.call('HSET', tkey, 'approved_in_a_row', 0, 'last_rejected_at', NOW)
  if redis.call('HEXISTS', tkey, 'level') == 1 then
    redis.call('HDEL', tkey, 'level', 'escalated_at', 'escalated_from')
    emit(KEYS[4], 'trust_reverted', id, {'definition', f[2], 'to', f[3] or '', 'why', 'rejected'})
    reverted = 'reverted'
  end
end
return {'ok', reverted}

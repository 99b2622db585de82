-- cancel: a person stops an order. Queued, delayed and waiting orders stop at once; a running
-- order's lease is revoked here, so its worker is fenced off and learns it at its next heartbeat.
-- KEYS[1] order hash   KEYS[2] leases zset   KEYS[3] delayed zset   KEYS[4] finished zset
-- KEYS[5] approvals zset   KEYS[6] events   KEYS[7] stats
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] who asked   ARGV[6] retention (ms)
-- The ready list and the holder's order set are reached through the prefix (named in the hash).
-- Returns {'ok', previous state} | {'conflict', state} | {'missing'}.
local okey, id = KEYS[1], ARGV[4]
local f = redis.call('HMGET', okey, 'state', 'type', 'priority')
local state = f[1]
if not state then return {'missing'} end
if not may_become(state, 'cancelled') then return {'conflict', state} end
if state == 'queued' then
  redis.call('LREM', ready_key(f[2], f[3]), 0, id)
elseif state == 'delayed' then
  redis.call('ZREM', KEYS[3], id)
elseif is_leased(state) then
  release_lease(okey, id, KEYS[2])
elseif state == 'awaiting_approval' then
  redis.call('ZREM', KEYS[5], id)
end
redis.call('HSET', okey, 'reason', 'cancelled', 'error', 'cancelled by ' .. ARGV[5])
finish(okey, id, 'cancelled', KEYS[4], tonumber(ARGV[6]))
redis.call('HINCRBY', KEYS[7], 'cancelled', 1)
remember(okey, 'cancelled', 'cancelled by ' .. ARGV[5])
emit(KEYS[6], 'cancelled', id, {'state', 'cancelled', 'previous', state, 'by', ARGV[5]})
return {'ok', state}

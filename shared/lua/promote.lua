-- promote: delayed orders whose time has come join the tail of their ready list.
-- KEYS[1] delayed zset   KEYS[2] events
-- ARGV[1..3] common   ARGV[4] most orders per call
-- Order hashes and ready lists are reached through the prefix.
-- Returns the ids promoted.
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local okey = order_key(id)
  local state = redis.call('HGET', okey, 'state')
  if state == 'delayed' then
    redis.call('HDEL', okey, 'run_at')
    enqueue_back(okey, id)
    remember(okey, 'queued', 'retry time reached')
    emit(KEYS[2], 'promoted', id, {'state', 'queued'})
    out[#out + 1] = id
  end
end
return out

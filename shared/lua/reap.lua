-- reap: leases past their deadline go back to the queue with their attempt counted, or to the
-- dead set when none is left. Run by the one controller that holds the reaper lock.
-- KEYS[1] leases zset   KEYS[2] dead zset   KEYS[3] events   KEYS[4] stats
-- ARGV[1..3] common   ARGV[4] most orders per call   ARGV[5] dead set cap   ARGV[6] dead retention (ms)
-- Order hashes, ready lists and worker order sets are reached through the prefix.
-- Returns a flat list, three entries per reaped order: id, new state, worker.
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  local okey = order_key(id)
  local f = redis.call('HMGET', okey, 'state', 'worker', 'attempt', 'max_attempts', 'lease_note')
  if not is_leased(f[1]) then
    -- A lease entry whose order moved on: only the entry is stale.
    redis.call('ZREM', KEYS[1], id)
  else
    local worker = f[2] or '?'
    local reason = 'lease_expired: worker ' .. worker .. ' ' .. (f[5] or 'missed heartbeats')
    release_lease(okey, id, KEYS[1])
    redis.call('HSET', okey, 'reason', 'lease_expired', 'error', reason)
    local state
    if tonumber(f[3]) < tonumber(f[4]) then
      state = 'queued'
      requeue_front(okey, id)
      redis.call('HINCRBY', KEYS[4], 'requeued', 1)
    else
      state = 'dead'
      bury(okey, id, KEYS[2], tonumber(ARGV[5]), tonumber(ARGV[6]))
      redis.call('HINCRBY', KEYS[4], 'dead', 1)
    end
    remember(okey, state, reason)
    emit(KEYS[3], 'lease_expired', id, {'state', state, 'worker', worker, 'reason', reason})
    out[#out + 1] = id
    out[#out + 1] = state
    out[#out + 1] = worker
  end
end
return out

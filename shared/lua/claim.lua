-- claim: a worker takes up to N queued orders, strictly by priority, FIFO within a list, and
-- leases each one under a fresh fencing token.
-- KEYS[1] leases zset         fleet:{F}:leases
-- KEYS[2] worker's order set  fleet:{F}:worker:<wid>:orders
-- KEYS[3] token counter       fleet:{F}:seq:token
-- KEYS[4] events stream       KEYS[5] stats hash      KEYS[6] histograms hash
-- KEYS[7..] ready lists to take from, highest priority first (every accepted type of `high`,
--           then of `default`, then of `low`)
-- ARGV[1..3] common   ARGV[4] worker id   ARGV[5] lease length (ms)   ARGV[6] most orders to take
-- Order hashes are reached through the prefix (the ids come out of the lists).
-- Returns a flat list, five entries per claimed order: id, token, attempt, spec JSON, deadline.
local worker = ARGV[4]
local deadline = NOW + tonumber(ARGV[5])
local want = tonumber(ARGV[6])
local out = {}
local claimed = 0
local k = 7
while claimed < want and k <= #KEYS do
  local id = redis.call('RPOP', KEYS[k])
  if not id then
    k = k + 1
  else
    local okey = order_key(id)
    local f = redis.call('HMGET', okey, 'state', 'queued_at', 'spec')
    if f[1] and may_become(f[1], 'running') then
      local token = tostring(redis.call('INCR', KEYS[3]))
      local attempt = redis.call('HINCRBY', okey, 'attempt', 1)
      redis.call('HSET', okey, 'state', 'running', 'worker', worker, 'token', token,
        'started_at', NOW, 'updated_at', NOW, 'lease_deadline', deadline)
      redis.call('HDEL', okey, 'progress', 'progress_message')
      redis.call('ZADD', KEYS[1], deadline, id)
      redis.call('SADD', KEYS[2], id)
      observe(KEYS[6], 'claim_wait', NOW - (tonumber(f[2]) or NOW))
      remember(okey, 'running', 'claimed by ' .. worker .. ', attempt ' .. attempt)
      emit(KEYS[4], 'claimed', id, {'state', 'running', 'worker', worker, 'attempt', attempt})
      out[#out + 1] = id
      out[#out + 1] = token
      out[#out + 1] = tostring(attempt)
      out[#out + 1] = f[3]
      out[#out + 1] = tostring(deadline)
      claimed = claimed + 1
    else
      -- An id without a queued order behind it cannot be run; drop it and leave a trace.
      emit(KEYS[4], 'dropped_stray_id', id, {'state', tostring(f[1]), 'list', KEYS[k]})
    end
  end
end
if claimed > 0 then redis.call('HINCRBY', KEYS[5], 'claimed', claimed) end
return out

-- abandon: a worker that starts under the name of one that crashed gives up that run's leases at
-- once (deadline 0), so the reaper requeues them now instead of after the lease length.
-- KEYS[1] leases zset   KEYS[2] the worker's order set
-- ARGV[1..3] common   ARGV[4] worker id   ARGV[5] note for the reason, e.g. 'restarted'
-- Returns the number of leases given up.
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local okey = order_key(id)
  local f = redis.call('HMGET', okey, 'state', 'worker')
  if is_leased(f[1]) and f[2] == ARGV[4] then
    redis.call('ZADD', KEYS[1], 'XX', 0, id)
    redis.call('HSET', okey, 'lease_note', ARGV[5])
    n = n + 1
  end
end
redis.call('DEL', KEYS[2])
return n

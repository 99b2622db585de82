-- heartbeat: a worker says it is alive, extends the leases it still holds, and learns which of
-- the orders it runs it no longer owns (cancelled, reclaimed after its lease expired, gone).
-- KEYS[1] leases zset       fleet:{F}:leases
-- KEYS[2] workers zset      fleet:{F}:workers
-- KEYS[3] worker hash       fleet:{F}:worker:<wid>
-- KEYS[4] worker order set  fleet:{F}:worker:<wid>:orders
-- KEYS[5] workers expiry    fleet:{F}:workers:expiry (when each worker counts as lost)
-- ARGV[1..3] common   ARGV[4] worker id   ARGV[5] lease length (ms)   ARGV[6] worker hash TTL (ms)
-- ARGV[7] n = number of worker-hash field/value pairs, then those 2n values,
-- then id/token pairs of the orders the worker runs.
-- Returns a flat list, two entries per order the worker must stop: id, its state now.
local worker = ARGV[4]
local deadline = NOW + tonumber(ARGV[5])
local n = tonumber(ARGV[7])
local i = 8
if n > 0 then
  local fields = {}
  for j = i, i + 2 * n - 1 do fields[#fields + 1] = ARGV[j] end
  redis.call('HSET', KEYS[3], unpack(fields))
end
redis.call('HSET', KEYS[3], 'last_heartbeat', NOW)
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[2], NOW, worker)
local interval = tonumber(redis.call('HGET', KEYS[3], 'heartbeat_interval_ms')) or DEFAULT_HEARTBEAT_MS
redis.call('ZADD', KEYS[5], NOW + LOST_AFTER_BEATS * interval, worker)
i = i + 2 * n
local lost = {}
while i < #ARGV do
  local id, token = ARGV[i], ARGV[i + 1]
  local okey = order_key(id)
  local f = redis.call('HMGET', okey, 'state', 'token')
  if f[1] and f[2] == token and is_leased(f[1]) then
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
    redis.call('HSET', okey, 'lease_deadline', deadline)
  else
    redis.call('SREM', KEYS[4], id)
    lost[#lost + 1] = id
    lost[#lost + 1] = f[1] or 'missing'
  end
  i = i + 2
end
return lost

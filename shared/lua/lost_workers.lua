-- lost_workers: marks workers that missed their heartbeats as lost (once, with an event), and
-- forgets workers that have been silent for a long time. Reads only the workers that are due
-- (workers:expiry), so a cycle costs O(due), not O(registered).
-- KEYS[1] workers zset          fleet:{F}:workers (id -> last heartbeat)
-- KEYS[2] workers expiry zset   fleet:{F}:workers:expiry (id -> when it counts as lost)
-- KEYS[3] events stream
-- ARGV[1..3] common   ARGV[4] forget workers silent for this long (ms)
-- ARGV[5] most workers per call
-- Worker hashes are reached through the prefix (the ids come out of the zset).
-- Returns the ids newly marked lost.
local forget_after = tonumber(ARGV[4])
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[5]))
for _, worker in ipairs(due) do
  local wkey = worker_key(worker)
  local last = tonumber(redis.call('ZSCORE', KEYS[1], worker))
  if not last or NOW - last > forget_after then
    redis.call('ZREM', KEYS[1], worker)
    redis.call('ZREM', KEYS[2], worker)
    redis.call('DEL', wkey)
  else
    local status = redis.call('HGET', wkey, 'status')
    if status ~= 'lost' and status ~= 'stopped' then
      redis.call('HSET', wkey, 'status', 'lost', 'lost_at', NOW)
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', 'worker_lost',
        'worker', worker, 'at', NOW, 'silent_ms', NOW - last)
      out[#out + 1] = worker
    end
    -- Next look: when it is time to forget it (a heartbeat before then moves it back).
    redis.call('ZADD', KEYS[2], last + forget_after + 1, worker)
  end
end
return out

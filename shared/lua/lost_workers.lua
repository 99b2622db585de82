-- lost_workers: marks workers that missed their heartbeats as lost (once, with an event), and
-- forgets workers that have been silent for a long time.
-- KEYS[1] workers zset   fleet:{F}:workers
-- KEYS[2] events stream
-- ARGV[1..3] common   ARGV[4] missed beats that make a worker lost (3)
-- ARGV[5] interval (ms) assumed when a worker did not record its own
-- ARGV[6] forget workers silent for this long (ms)
-- Worker hashes are reached through the prefix (the ids come out of the zset).
-- Returns the ids newly marked lost.
local factor, default_interval, forget_after = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}
local beats = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #beats, 2 do
  local worker, last = beats[i], tonumber(beats[i + 1])
  local wkey = worker_key(worker)
  local f = redis.call('HMGET', wkey, 'status', 'heartbeat_interval_ms')
  local interval = tonumber(f[2]) or default_interval
  local silent = NOW - last
  if silent > forget_after then
    redis.call('ZREM', KEYS[1], worker)
    redis.call('DEL', wkey)
  elseif silent > factor * interval and f[1] ~= 'lost' and f[1] ~= 'stopped' then
    redis.call('HSET', wkey, 'status', 'lost', 'lost_at', NOW)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', 'worker_lost',
      'worker', worker, 'at', NOW, 'silent_ms', silent)
    out[#out + 1] = worker
  end
end
return out

-- lock: take or keep a named lock for one owner, so that only one controller runs a loop.
-- KEYS[1] lock key   fleet:{F}:lock:<name>
-- ARGV[1..3] common   ARGV[4] owner id   ARGV[5] time to live (ms)
-- Returns 1 when `owner` holds the lock after the call, else 0.
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
  return 1
end
if holder == ARGV[4] then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0

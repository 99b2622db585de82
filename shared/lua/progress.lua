-- progress: the lease holder reports how far its agent is.
-- KEYS[1] order hash   KEYS[2] events
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] fencing token   ARGV[6] percent (0-100)
-- ARGV[7] message
-- Returns {'ok'} | {'fenced', state, holder} | {'missing'}.
local okey, id = KEYS[1], ARGV[4]
local refused = fence(okey, ARGV[5])
if refused then return refused end
redis.call('HSET', okey, 'progress', ARGV[6], 'progress_message', ARGV[7], 'updated_at', NOW)
emit(KEYS[2], 'progress', id, {'percent', ARGV[6], 'message', ARGV[7]})
return {'ok'}

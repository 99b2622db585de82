-- release: the lease holder hands an order back without charging the attempt (a worker that
-- drains on shutdown and could not finish in its grace period).
-- KEYS[1] order hash   KEYS[2] leases zset   KEYS[3] events
-- ARGV[1..3] common   ARGV[4] order id   ARGV[5] fencing token   ARGV[6] why
-- Returns {'ok', 'queued'} | {'fenced', state, holder} | {'missing'}.
local okey, id = KEYS[1], ARGV[4]
local refused = fence(okey, ARGV[5])
if refused then return refused end
local worker = redis.call('HGET', okey, 'worker') or ''
release_lease(okey, id, KEYS[2])
redis.call('HINCRBY', okey, 'attempt', -1)
requeue_front(okey, id)
remember(okey, 'queued', ARGV[6])
emit(KEYS[3], 'released', id, {'state', 'queued', 'worker', worker, 'reason', ARGV[6]})
return {'ok', 'queued'}

-- Prelude: prepended to every fleet script by shared/src/queue/scripts.rs.
--
-- Above this line the Rust side renders:
--   ALLOWED   the transition table from OrderState::can_become (state -> {next = true})
--   BUCKETS   histogram bucket bounds (ms) per metric, the same ones /metrics reports
--   HISTORY_MAX, MARKER_MAX
--
-- Every script receives the same three leading arguments:
--   ARGV[1] now in ms since the epoch; 0 means "ask Redis" (TIME), so that every worker and
--           controller shares one clock. Tests pass their own time.
--   ARGV[2] approximate MAXLEN of the events stream
--   ARGV[3] the fleet's key prefix, fleet:{NAME}:  -- used only to reach keys named by an id that
--           the script reads inside Redis (an order popped from a list). They share the fleet's
--           hash tag, so they live in the same Cluster slot as the KEYS.

local function clock(arg)
  local n = tonumber(arg)
  if n and n > 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local NOW = clock(ARGV[1])
local EVENTS_MAXLEN = ARGV[2]
local PREFIX = ARGV[3]

local function order_key(id) return PREFIX .. 'order:' .. id end
local function ready_key(task_type, priority) return PREFIX .. 'ready:' .. task_type .. ':' .. priority end
local function marker_key(task_type) return PREFIX .. 'marker:' .. task_type end
local function worker_key(worker) return PREFIX .. 'worker:' .. worker end
local function question_key(qid) return PREFIX .. 'question:' .. qid end
local function pending_questions_key() return PREFIX .. 'questions:pending' end
local function worker_orders_key(worker) return worker_key(worker) .. ':orders' end
-- An order's own lists hang off its hash key, so they follow it wherever it is named.
local function history_of(okey) return okey .. ':history' end
local function log_of(okey) return okey .. ':log' end

local function may_become(from, to)
  local row = ALLOWED[from]
  return row ~= nil and row[to] == true
end

local function is_leased(state)
  return state == 'running' or state == 'awaiting_clarification'
end

-- Appends one event to the stream. fields: a flat list of name, value.
local function emit(stream, kind, id, fields)
  local args = {'XADD', stream, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', kind, 'order', id, 'at', NOW}
  for i = 1, #fields do args[#args + 1] = tostring(fields[i]) end
  redis.call(unpack(args))
end

-- Records a transition in the order's own capped history (newest first).
local function remember(okey, state, note)
  local h = history_of(okey)
  redis.call('LPUSH', h, cjson.encode({at = NOW, state = state, note = note}))
  redis.call('LTRIM', h, 0, HISTORY_MAX - 1)
end

-- Wakes one idle worker that accepts this task type (they BLPOP on the marker).
local function wake(task_type)
  local m = marker_key(task_type)
  redis.call('LPUSH', m, '1')
  redis.call('LTRIM', m, 0, MARKER_MAX - 1)
end

-- Counts one observation into a histogram: one bucket counter plus sum and count.
local function observe(hist_key, metric, value)
  if value < 0 then value = 0 end
  local bounds = BUCKETS[metric]
  local le = '+Inf'
  for i = 1, #bounds do
    if value <= bounds[i] then le = tostring(bounds[i]); break end
  end
  redis.call('HINCRBY', hist_key, metric .. ':' .. le, 1)
  redis.call('HINCRBY', hist_key, metric .. ':count', 1)
  redis.call('HINCRBY', hist_key, metric .. ':sum', math.floor(value))
end

-- nil when `token` holds the order's lease; otherwise the reply that explains why not.
local function fence(okey, token)
  local cur = redis.call('HMGET', okey, 'state', 'token', 'worker')
  if not cur[1] then return {'missing'} end
  if cur[2] ~= token or not is_leased(cur[1]) then
    return {'fenced', cur[1], cur[3] or ''}
  end
  return nil
end

-- A question whose asker lost its lease can no longer be answered: mark it stale.
local function stale_question(okey)
  local qid = redis.call('HGET', okey, 'pending_question')
  if not qid then return end
  local qkey = question_key(qid)
  if redis.call('HGET', qkey, 'state') == 'pending' then
    redis.call('HSET', qkey, 'state', 'stale', 'closed_at', NOW)
  end
  redis.call('ZREM', pending_questions_key(), qid)
  redis.call('HDEL', okey, 'pending_question')
end

-- Drops the lease bookkeeping of a leased order (and stales its pending question).
local function release_lease(okey, id, leases_key)
  redis.call('ZREM', leases_key, id)
  local worker = redis.call('HGET', okey, 'worker')
  if worker then redis.call('SREM', worker_orders_key(worker), id) end
  redis.call('HDEL', okey, 'token', 'lease_deadline', 'lease_note')
  stale_question(okey)
end

-- Puts an order back at the head of its ready list: it already waited its turn once.
local function requeue_front(okey, id)
  local f = redis.call('HMGET', okey, 'type', 'priority')
  redis.call('RPUSH', ready_key(f[1], f[2]), id)
  redis.call('HSET', okey, 'state', 'queued', 'queued_at', NOW, 'updated_at', NOW)
  wake(f[1])
end

-- Puts an order at the tail of its ready list.
local function enqueue_back(okey, id)
  local f = redis.call('HMGET', okey, 'type', 'priority')
  redis.call('LPUSH', ready_key(f[1], f[2]), id)
  redis.call('HSET', okey, 'state', 'queued', 'queued_at', NOW, 'updated_at', NOW)
  wake(f[1])
end

local function expire_order(okey, ttl_ms)
  redis.call('PEXPIRE', okey, ttl_ms)
  redis.call('PEXPIRE', history_of(okey), ttl_ms)
  redis.call('PEXPIRE', log_of(okey), ttl_ms)
end

local function keep_order(okey)
  redis.call('PERSIST', okey)
  redis.call('PERSIST', history_of(okey))
  redis.call('PERSIST', log_of(okey))
end

-- Moves an order into the finished set; it and the set entry expire after the retention.
local function finish(okey, id, state, finished_key, retention_ms)
  redis.call('HSET', okey, 'state', state, 'finished_at', NOW, 'updated_at', NOW)
  redis.call('ZADD', finished_key, NOW, id)
  redis.call('ZREMRANGEBYSCORE', finished_key, '-inf', NOW - retention_ms)
  expire_order(okey, retention_ms)
end

-- Moves an order into the dead set, which is capped by age and by size.
local function bury(okey, id, dead_key, dead_max, dead_retention_ms)
  redis.call('HSET', okey, 'state', 'dead', 'finished_at', NOW, 'updated_at', NOW)
  redis.call('ZADD', dead_key, NOW, id)
  expire_order(okey, dead_retention_ms)
  redis.call('ZREMRANGEBYSCORE', dead_key, '-inf', NOW - dead_retention_ms)
  local extra = redis.call('ZCARD', dead_key) - dead_max
  if extra > 0 then
    local oldest = redis.call('ZPOPMIN', dead_key, extra)
    for i = 1, #oldest, 2 do
      local k = order_key(oldest[i])
      redis.call('DEL', k, history_of(k), log_of(k))
    end
  end
end

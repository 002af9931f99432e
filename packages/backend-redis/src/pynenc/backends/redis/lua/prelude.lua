-- Shared by every pynenc script (prepended to each, after `T`, the status table as data:
-- T.owned, T.active, T.final are sets written ",A,B,", T.registered the status of a new
-- invocation). ARGV[1] is the app's key prefix, "pynenc:{<app id>}:"; every key a script
-- touches starts with it. A record argument holds its fields separated by "\31".
local P = ARGV[1]

-- The fields of a record argument.
local function split(s)
  local out, i = {}, 1
  while true do
    local j = string.find(s, '\31', i, true)
    if not j then
      out[#out + 1] = string.sub(s, i)
      return out
    end
    out[#out + 1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end

-- Whether `item` is in `set`, a list written as ",A,B,C," (how status sets are passed).
local function has(set, item)
  return string.find(set, ',' .. item .. ',', 1, true) ~= nil
end

-- An integer as a string Redis reads exactly (Lua's tostring rounds above 1e14).
local function int(x)
  return string.format('%.0f', x)
end

-- Keep at most one wake-up token in a waiter's list: a blocked runner pops it and looks.
local function ring(key)
  if redis.call('LLEN', key) == 0 then
    redis.call('RPUSH', key, '1')
  end
end

-- Orchestrator indexes. An invocation is the hash P.."o:inv:"..id with fields
--   s status, r runner id ("" for none), t status time (us), k task id, c call id,
--   g registration key, u running key ("" for none), q registration sequence, a registered at
--   (us), n retries, x token of the last call that changed its status.
-- and is indexed in: o:st:<status> (zset by q), o:tc:<task> (hash status -> count),
-- o:own:<runner> (set, while its status is owned), o:run:<running key> (set, while active),
-- o:reg:<registration key> (the id of the one REGISTERED invocation with that key).

local function read_inv(id)
  local v = redis.call('HMGET', P .. 'o:inv:' .. id, 's', 'r', 't', 'k', 'g', 'u', 'q', 'x')
  if not v[1] then
    return nil
  end
  return {s = v[1], r = v[2] or '', t = v[3] or '', k = v[4] or '', g = v[5] or '',
          u = v[6] or '', q = v[7] or '0', x = v[8] or ''}
end

-- Take invocation `id` (fields `f`) out of the indexes of its current status.
local function unindex(id, f, next_status)
  redis.call('ZREM', P .. 'o:st:' .. f.s, id)
  redis.call('HINCRBY', P .. 'o:tc:' .. f.k, f.s, -1)
  if f.r ~= '' and has(T.owned, f.s) then
    redis.call('SREM', P .. 'o:own:' .. f.r, id)
  end
  if f.u ~= '' and has(T.active, f.s) and not (next_status and has(T.active, next_status)) then
    redis.call('SREM', P .. 'o:run:' .. f.u, id)
  end
  if f.g ~= '' and f.s == T.registered and next_status ~= T.registered then
    local regkey = P .. 'o:reg:' .. f.g
    if redis.call('GET', regkey) == id then
      redis.call('DEL', regkey)
    end
  end
end

-- Put invocation `id` (fields `f`, whose status is now `status` set by `runner`) in the
-- indexes of that status.
local function index(id, f, status, runner)
  redis.call('ZADD', P .. 'o:st:' .. status, f.q, id)
  redis.call('HINCRBY', P .. 'o:tc:' .. f.k, status, 1)
  if runner ~= '' and has(T.owned, status) then
    redis.call('SADD', P .. 'o:own:' .. runner, id)
  end
  if f.u ~= '' and has(T.active, status) then
    redis.call('SADD', P .. 'o:run:' .. f.u, id)
  end
  if f.g ~= '' and status == T.registered then
    redis.call('SET', P .. 'o:reg:' .. f.g, id)
  end
end

-- Append one history entry (JSON) of invocation `id`, indexed by time `ts` (us).
local function add_history(id, ts, entry)
  local n = redis.call('RPUSH', P .. 's:hist:' .. id, entry)
  redis.call('ZADD', P .. 's:htime', ts, id .. ':' .. (n - 1))
end

-- Queue invocation `id` in `queue` now: best priority first, first in first out within one.
-- The score is (-priority) * 2^33 + sequence; priorities are clamped to +-2^19 by the caller.
local function enqueue(id, queue, priority)
  local seq = redis.call('INCR', P .. 'b:seq') % 8589934592
  local score = -tonumber(priority) * 8589934592 + seq
  redis.call('ZADD', P .. 'b:q:' .. queue, int(score), id)
  redis.call('SADD', P .. 'b:queues', queue)
end

local function ring_queue(queue)
  ring(P .. 'b:bell:' .. queue)
  ring(P .. 'b:bell')
end

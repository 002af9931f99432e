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
--   (us), n retries, x token of the last call that changed its status, m token of the call
--   that registered it, h the history window its last history entry was indexed in.
-- and is indexed in: o:st:<status> (zset by q), o:tc:<task> (hash status -> count),
-- o:own:<runner> (set, while its status is owned), o:run:<running key> (set, while active),
-- o:reg:<registration key> (the id of the one REGISTERED invocation with that key).

local function read_inv(id)
  local v = redis.call('HMGET', P .. 'o:inv:' .. id, 's', 'r', 't', 'k', 'g', 'u', 'q', 'x', 'h')
  if not v[1] then
    return nil
  end
  return {s = v[1], r = v[2] or '', t = v[3] or '', k = v[4] or '', g = v[5] or '',
          u = v[6] or '', q = v[7] or '0', x = v[8] or '', h = v[9] or ''}
end

-- Take invocation `id` (fields `f`) out of the indexes of its current status. `ts` (us), the
-- time of the move, is kept for a while when the invocation frees its running key: the next
-- claim of that key is recorded after it (see claim_round.lua).
local function unindex(id, f, next_status, ts)
  redis.call('ZREM', P .. 'o:st:' .. f.s, id)
  redis.call('HINCRBY', P .. 'o:tc:' .. f.k, f.s, -1)
  if f.r ~= '' and has(T.owned, f.s) then
    redis.call('SREM', P .. 'o:own:' .. f.r, id)
  end
  if f.u ~= '' and has(T.active, f.s) and not (next_status and has(T.active, next_status)) then
    redis.call('SREM', P .. 'o:run:' .. f.u, id)
    if ts then
      redis.call('SET', P .. 'o:left:' .. f.u, ts, 'PX', 60000)
    end
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

-- A history entry as codec.encode_history writes it, for a change at `ts` (us): `mid` and
-- `tail` are the JSON between and after the two times (codec.history_parts).
local function history_entry(ts, mid, tail)
  return '[' .. ts .. ',' .. mid .. ',' .. ts .. ',' .. tail .. ']'
end

-- History time index: s:hw:<window> is the set of the invocations with history entries in
-- that window of HISTORY_WINDOW_US microseconds (window = floor(time / HISTORY_WINDOW_US);
-- the width is set with the status table, from codec.HISTORY_WINDOW_US). An
-- invocation is added to a window when one of its entries falls in it, unless its status hash
-- says (field h) its previous entry was indexed in the same window: most invocations are added
-- once. With a state retention, a window's set expires that long after the window ends.

-- The window (a string) of a history time `ts` (us, a number or a string).
local function history_window(ts)
  return string.format('%d', math.floor(tonumber(ts) / HISTORY_WINDOW_US))
end

-- Index invocation `id` in `window` (its previous window is `last`, "" when unknown);
-- `retention` (seconds, 0 = keep) bounds how long the window's set lives.
local function index_history(id, window, last, retention)
  if window == last then
    return
  end
  local key = P .. 's:hw:' .. window
  if redis.call('SADD', key, id) == 1 and retention > 0 then
    redis.call('EXPIRE', key, int(retention + 2 * HISTORY_WINDOW_US / 1e6), 'NX')
  end
end

-- Append one history entry (JSON) of invocation `id` at time `ts` (us) and index it;
-- `last` and `retention` as for index_history. Returns the entry's window.
local function add_history(id, ts, entry, last, retention)
  redis.call('RPUSH', P .. 's:hist:' .. id, entry)
  local window = history_window(ts)
  index_history(id, window, last, retention)
  return window
end

-- Queue invocation `id` in `queue` now: best priority first, first in first out within one.
-- The score is (-priority) * 2^33 + sequence; priorities are clamped to +-2^19 by the caller.
-- `seq`, when given, is a number just drawn from o:seq (a registration's): the broker and the
-- orchestrator share that one sequence, so a registration draws one number for both.
local function enqueue(id, queue, priority, seq)
  seq = (seq or redis.call('INCR', P .. 'o:seq')) % 8589934592
  local score = -tonumber(priority) * 8589934592 + seq
  redis.call('ZADD', P .. 'b:q:' .. queue, int(score), id)
  redis.call('SADD', P .. 'b:queues', queue)
end

local function ring_queue(queue)
  ring(P .. 'b:bell:' .. queue)
  ring(P .. 'b:bell')
end

-- The queues named in ARGV from index `first` on (none: every queue of the app).
local function queue_names(first)
  if #ARGV < first then
    return redis.call('SMEMBERS', P .. 'b:queues')
  end
  local queues = {}
  for i = first, #ARGV do
    queues[#queues + 1] = ARGV[i]
  end
  return queues
end

-- Timers: b:timers holds what waits for a time, scored by it (epoch seconds): a delayed
-- message ("d|id|priority|queue", due at its "not before" time) and a lease
-- ("l|id|priority|queue", due when it expires unacknowledged: its runner died). Either is
-- queued when due, so one look at the first timer tells a round whether anything is.
local function timer(kind, id, priority, queue)
  return kind .. '|' .. id .. '|' .. priority .. '|' .. queue
end

-- The first timer's time, or false when there is none.
local function first_timer()
  local first = redis.call('ZRANGE', P .. 'b:timers', 0, 0, 'WITHSCORES')
  return first[2] and tonumber(first[2]) or false
end

-- Queue every timer due at `now` (epoch seconds), up to 200 at a time.
local function requeue_due(now)
  local key = P .. 'b:timers'
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, 200)) do
    local a = string.find(member, '|', 3, true)
    local b = string.find(member, '|', a + 1, true)
    enqueue(string.sub(member, 3, a - 1), string.sub(member, b + 1), string.sub(member, a + 1, b - 1))
    redis.call('ZREM', key, member)
  end
end

-- Queue what is due at `now`, if anything is; returns the first timer left (false if none, nil
-- when it changed and has to be looked up again).
local function requeue_if_due(now)
  local first = first_timer()
  if first and first <= tonumber(now) then
    requeue_due(now)
    return nil
  end
  return first
end

-- When the next timer falls due, as a script returns it ("" = none); `first` as
-- requeue_if_due returned it.
local function next_due(first)
  if first == nil then
    first = first_timer()
  end
  if first then
    return string.format('%.6f', first)
  end
  return ''
end

-- Up to `max` best due messages across `queues`: {score, id, queue}, best first.
local function best_due(queues, max)
  local candidates = {}
  if max > 0 then
    for _, queue in ipairs(queues) do
      local found = redis.call('ZRANGE', P .. 'b:q:' .. queue, 0, max - 1, 'WITHSCORES')
      for j = 1, #found, 2 do
        candidates[#candidates + 1] = {tonumber(found[j + 1]), found[j], queue}
      end
    end
  end
  if #queues > 1 then
    table.sort(candidates, function(x, y) return x[1] < y[1] end)
  end
  return candidates
end

-- Wake the next waiting runner of each queue in `taken` that still has due messages; returns
-- whether one had.
local function ring_rest(taken)
  local more = false
  for queue in pairs(taken) do
    if redis.call('ZCARD', P .. 'b:q:' .. queue) > 0 then
      ring_queue(queue)
      more = true
    end
  end
  return more
end

-- Invocations others wait on (most waited-on first, at most `limit`) whose status is in
-- `runnable`.
local function runnable_waited(limit, runnable)
  local out = {}
  if limit > 0 then
    for _, id in ipairs(redis.call('ZREVRANGE', P .. 'o:waited', 0, limit - 1)) do
      local status = redis.call('HGET', P .. 'o:inv:' .. id, 's')
      if status and has(runnable, status) then
        out[#out + 1] = id
      end
    end
  end
  return out
end

-- Invocation ids by their first characters (for lookups by prefix, which give at least 4):
-- s:idp:<first 3 characters> is the set of the ids starting with them.
local function id_bucket(id)
  return P .. 's:idp:' .. string.sub(id, 1, 3)
end

-- State retention: give a final invocation's state keys `retention` seconds to live, and
-- forget a few invocations whose state already expired (their entry in the prefix lookup;
-- the history time index expires by itself).
local function expire_state(id, ts, retention)
  local seconds = int(retention)
  for _, kind in ipairs({'s:inv:', 's:hist:', 's:res:', 's:exc:', 's:kids:'}) do
    redis.call('EXPIRE', P .. kind .. id, seconds)
  end
  local now = tonumber(ts) / 1e6
  redis.call('ZADD', P .. 's:expiring', int(now + retention), id)
  local gone = redis.call('ZRANGEBYSCORE', P .. 's:expiring', '-inf', int(now), 'LIMIT', 0, 16)
  for _, old in ipairs(gone) do
    redis.call('SREM', id_bucket(old), old)
    redis.call('ZREM', P .. 's:expiring', old)
  end
end

-- One compare-and-set status change (transition.lua), appending its 6 return values to `out`;
-- returns whether it applied.
-- header: target status, from-any-runner set, from-owner-only set, exclusive ("1"/"0"),
--   runner id ("" for none), status time (us), flags (h = record history, d = return the
--   stored call of an applied move, p = publish a final move), value kind ("r" result, "e"
--   exception, "" none), state retention (seconds, 0 = keep), call token (unique per call: a
--   retry of a call whose reply was lost finds its own token and reports the move as
--   applied), notification value limit (bytes).
-- item: id, history time (us), history entry.
local function transition(header, value, item, out)
  local h = split(header)
  local target, from_any, from_owner, exclusive = h[1], h[2], h[3], h[4] == '1'
  local runner, ts, flags, value_kind = h[5], h[6], h[7], h[8]
  local retention, token, inline_limit = tonumber(h[9]), h[10], tonumber(h[11])
  local r = split(item)
  local id = r[1]
  local f = read_inv(id)
  local applied, conflict, call = 0, '', ''
  local prev_s, prev_r, prev_t = '', '', ''
  if f then
    prev_s, prev_r, prev_t = f.s, f.r, f.t
    if f.x == token then
      applied = 1  -- this exact move was already applied: a retry after a lost reply
    elseif has(from_any, f.s) or (has(from_owner, f.s) and f.r == runner) then
      if exclusive and f.u ~= '' then
        for _, other in ipairs(redis.call('SMEMBERS', P .. 'o:run:' .. f.u)) do
          if other ~= id then
            conflict = other
            break
          end
        end
      end
      if conflict == '' then
        applied = 1
        unindex(id, f, target, ts)
        local window = f.h
        if string.find(flags, 'h', 1, true) then
          window = add_history(id, r[2], r[3], f.h, retention)
        end
        redis.call('HSET', P .. 'o:inv:' .. id, 's', target, 'r', runner, 't', ts, 'x', token,
          'h', window)
        index(id, f, target, runner)
        if value_kind == 'r' then
          redis.call('SET', P .. 's:res:' .. id, value)
        elseif value_kind == 'e' then
          redis.call('SET', P .. 's:exc:' .. id, value)
        end
        local final = has(T.final, target)
        if retention > 0 and final then
          expire_state(id, ts, retention)
        end
        if final and string.find(flags, 'p', 1, true) then
          -- small results travel with the notification: waiters need no extra round trip
          local note = id .. '|' .. target .. '|' .. runner .. '|' .. ts
          if value_kind ~= '' and #value <= inline_limit then
            note = note .. '|' .. value_kind .. value
          end
          redis.call('PUBLISH', P .. 'o:final', note)
        end
      end
    end
    if applied == 1 and string.find(flags, 'd', 1, true) then
      call = redis.call('GET', P .. 's:inv:' .. id) or ''
    end
  end
  out[#out + 1] = applied
  out[#out + 1] = prev_s
  out[#out + 1] = prev_r
  out[#out + 1] = prev_t
  out[#out + 1] = conflict
  out[#out + 1] = call
  return applied == 1
end

-- A runner's retrieval round, as claim_round.lua returns it: `header` as claim_round.lua
-- describes it, queue names in ARGV from `first_queue` on.
local function claim_round(header, first_queue)
  local h = split(header)
  local out = {''}
  local now, max, waited_limit, runnable = h[1], tonumber(h[2]), tonumber(h[3]), h[4]
  local from_any, from_owner, exclusive = h[6], h[7], h[8] == '1'
  local status, runner, ts, token = h[5], h[10], tonumber(h[11]), h[12]
  local starting = h[9] ~= ''
  if starting then
    status = h[9]
  end
  local claim_mid, claim_tail, start_mid, start_tail = h[14], h[15], h[16], h[17]
  local retention, guard = tonumber(h[18]), h[19]
  if guard ~= '' and redis.call('DEL', P .. 'b:fc:' .. guard) == 1 then
    return out
  end

  local function emit(id, applied, f, conflict, at, call)
    out[#out + 1] = id
    out[#out + 1] = applied
    out[#out + 1] = f and f.s or ''
    out[#out + 1] = f and f.r or ''
    out[#out + 1] = f and f.t or ''
    out[#out + 1] = conflict
    out[#out + 1] = at
    out[#out + 1] = call
  end

  if h[13] == '1' then
    for _, id in ipairs(redis.call('SMEMBERS', P .. 'o:own:' .. runner)) do
      local v = redis.call('HMGET', P .. 'o:inv:' .. id, 'x', 't')
      if v[1] == token then
        local at = tonumber(v[2])
        if starting then
          at = at - 1
        end
        emit(id, 1, nil, '', int(at), redis.call('GET', P .. 's:inv:' .. id) or '')
      end
    end
    if #out > 1 then
      return out
    end
  end

  local seen = {}

  local function claim(id)
    if seen[id] then
      return false
    end
    seen[id] = true
    local f = read_inv(id)
    if not f or not (has(from_any, f.s) or (has(from_owner, f.s) and f.r == runner)) then
      emit(id, 0, f, '', '', '')
      return false
    end
    local at = ts
    local current = tonumber(f.t)
    if current and current >= at then
      at = current + 1
    end
    if f.u ~= '' then
      if exclusive then
        for _, other in ipairs(redis.call('SMEMBERS', P .. 'o:run:' .. f.u)) do
          if other ~= id then
            emit(id, 0, f, other, '', '')
            return false
          end
        end
      end
      local left = tonumber(redis.call('GET', P .. 'o:left:' .. f.u) or '')
      if left and left >= at then
        at = left + 1
      end
    end
    local last = at
    if starting then
      last = at + 1
    end
    unindex(id, f, status, nil)
    local claimed_at, last_at, window = int(at), int(last), history_window(at)
    index_history(id, window, f.h, retention)
    if starting then
      redis.call('RPUSH', P .. 's:hist:' .. id, history_entry(claimed_at, claim_mid, claim_tail),
        history_entry(last_at, start_mid, start_tail))
      local start_window = history_window(last)
      index_history(id, start_window, window, retention)
      window = start_window
    else
      redis.call('RPUSH', P .. 's:hist:' .. id, history_entry(claimed_at, claim_mid, claim_tail))
    end
    redis.call('HSET', P .. 'o:inv:' .. id, 's', status, 'r', runner, 't', last_at, 'x', token,
      'h', window)
    index(id, f, status, runner)
    emit(id, 1, f, '', claimed_at, redis.call('GET', P .. 's:inv:' .. id) or '')
    return true
  end

  local claimed = 0
  for _, id in ipairs(runnable_waited(waited_limit, runnable)) do
    if claimed < max and claim(id) then
      claimed = claimed + 1
    end
  end
  local queues = queue_names(first_queue)
  local first = nil
  local more = true
  if claimed < max then
    first = requeue_if_due(now)
    local taken = {}
    for _, c in ipairs(best_due(queues, max - claimed)) do
      redis.call('ZREM', P .. 'b:q:' .. c[3], c[2])
      taken[c[3]] = true
      claim(c[2])
    end
    more = ring_rest(taken)
  end
  if #out == 1 or not more then
    out[1] = next_due(first)
  else
    out[1] = '+'
  end
  return out
end

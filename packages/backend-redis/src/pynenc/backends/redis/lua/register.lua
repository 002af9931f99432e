-- Register new invocations: per invocation, in one atomic step, reuse the REGISTERED
-- invocation holding its registration key if there is one; otherwise store its call (state
-- backend), its status and indexes (orchestrator), its first history entry, and queue it
-- (broker), in that order, so no runner can claim an invocation that is not fully stored.
-- An invocation already stored is left as it is: a repeat of this call after a lost reply
-- (same token) reports it as registered, another call's registration as reusing itself.
--
-- ARGV: 1 prefix; 2 header: runner id, token, state retention (seconds, 0 = keep; for the
--   history time index); 3... per invocation: id,
--   task id, call id, registration key, running key, registered at (us), stored call ("" = not
--   stored here), parent id, history time (us), history entry ("" = none), queue ("" = not
--   queued), priority, status time (us; each its own, since the outbox sends the calls it
--   queued together).
-- Returns the reused invocations as a flat list: id, id of the invocation it reuses, ...
local h = split(ARGV[2])
local status, runner, token = T.registered, h[1], h[2]
local retention = tonumber(h[3])
local reused = {}
local rung = {}
for i = 3, #ARGV do
  local e = split(ARGV[i])
  local id, task, call, regkey, runkey = e[1], e[2], e[3], e[4], e[5]
  local holder = false
  if regkey ~= '' then
    holder = redis.call('GET', P .. 'o:reg:' .. regkey)
    if holder and redis.call('HGET', P .. 'o:inv:' .. holder, 's') ~= status then
      holder = false
    end
  end
  local reuses = holder and holder ~= id and holder
  local made_by = not reuses and redis.call('HGET', P .. 'o:inv:' .. id, 'm')
  if reuses then
    reused[#reused + 1] = id
    reused[#reused + 1] = reuses
  elseif made_by then
    if made_by ~= token then
      -- stored before by another call (two runners firing one trigger run derive one id)
      reused[#reused + 1] = id
      reused[#reused + 1] = id
    end
  else
    local stored, parent = e[7], e[8]
    if stored ~= '' then
      redis.call('SET', P .. 's:inv:' .. id, stored)
      redis.call('SADD', id_bucket(id), id)
      if parent ~= '' then
        redis.call('ZADD', P .. 's:kids:' .. parent, 'NX', redis.call('INCR', P .. 's:seq'), id)
      end
    end
    local window = ''
    if e[10] ~= '' then
      window = add_history(id, e[9], e[10], '', retention)
    end
    local q = redis.call('INCR', P .. 'o:seq')
    redis.call('HSET', P .. 'o:inv:' .. id, 's', status, 'r', runner, 't', e[13], 'k', task,
      'c', call, 'g', regkey, 'u', runkey, 'q', q, 'a', e[6], 'x', token,
      'm', token, 'h', window)
    index(id, {k = task, g = regkey, u = runkey, q = q}, status, runner)
    local queue = e[11]
    if queue ~= '' then
      enqueue(id, queue, e[12], q)
      rung[queue] = true
    end
  end
end
for queue in pairs(rung) do
  ring_queue(queue)
end
return reused

-- Compare-and-set status changes of one or more invocations, each with what goes with it in
-- the same atomic step: its history entry, the result or exception of a final move, the
-- wake-up of result waiters, the call data a claiming runner needs, the broker leases it
-- acknowledges. Validation uses only the rule passed in (from the status table).
--
-- ARGV: 1 prefix; 2 header: target status, from-any-runner set, from-owner-only set,
--   exclusive ("1"/"0"), runner id ("" for none), status time (us), flags (h = record history,
--   d = return the stored call of each applied move, p = publish final moves), value kind
--   ("r" result, "e" exception, "" none), state retention (seconds, 0 = keep), call token
--   (unique per call: a retry of a call whose reply was lost finds its own token and reports
--   the move as applied), notification value limit (bytes); 3 the value; 4 broker lease
--   members to delete (a record, "" for none); 5... per invocation: id, history time (us),
--   history entry.
-- Returns per invocation: applied (1/0), previous status, runner, time, conflicting id,
--   stored call ("" unless flag d and applied).
local h = split(ARGV[2])
local target, from_any, from_owner, exclusive = h[1], h[2], h[3], h[4] == '1'
local runner, ts, flags, value_kind = h[5], h[6], h[7], h[8]
local retention, token, inline_limit = tonumber(h[9]), h[10], tonumber(h[11])
local value = ARGV[3]
local with_history = string.find(flags, 'h', 1, true) ~= nil
local with_call = string.find(flags, 'd', 1, true) ~= nil
local publish = string.find(flags, 'p', 1, true) ~= nil and has(T.final, target)
if ARGV[4] ~= '' then
  redis.call('ZREM', P .. 'b:lease', unpack(split(ARGV[4])))
end

local function expire_state(id)
  local seconds = int(retention)
  for _, kind in ipairs({'s:inv:', 's:hist:', 's:res:', 's:exc:', 's:kids:'}) do
    redis.call('EXPIRE', P .. kind .. id, seconds)
  end
  local now = tonumber(ts) / 1e6
  local entries = redis.call('LLEN', P .. 's:hist:' .. id)
  redis.call('ZADD', P .. 's:expiring', int(now + retention), id .. '|' .. entries)
  -- forget a few invocations whose state already expired: their lookup and time index entries
  local gone = redis.call('ZRANGEBYSCORE', P .. 's:expiring', '-inf', int(now), 'LIMIT', 0, 16)
  for _, member in ipairs(gone) do
    local sep = string.find(member, '|', 1, true)
    local old = string.sub(member, 1, sep - 1)
    for n = 0, tonumber(string.sub(member, sep + 1)) - 1 do
      redis.call('ZREM', P .. 's:htime', old .. ':' .. n)
    end
    redis.call('ZREM', P .. 's:ids', old)
    redis.call('ZREM', P .. 's:expiring', member)
  end
end

local out = {}
for i = 5, #ARGV do
  local r = split(ARGV[i])
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
        unindex(id, f, target)
        redis.call('HSET', P .. 'o:inv:' .. id, 's', target, 'r', runner, 't', ts, 'x', token)
        index(id, f, target, runner)
        if with_history then
          add_history(id, r[2], r[3])
        end
        if value_kind == 'r' then
          redis.call('SET', P .. 's:res:' .. id, value)
        elseif value_kind == 'e' then
          redis.call('SET', P .. 's:exc:' .. id, value)
        end
        if retention > 0 and has(T.final, target) then
          expire_state(id)
        end
        if publish then
          -- small results travel with the notification: waiters need no extra round trip
          local note = id .. '|' .. target .. '|' .. runner .. '|' .. ts
          if value_kind ~= '' and #value <= inline_limit then
            note = note .. '|' .. value_kind .. value
          end
          redis.call('PUBLISH', P .. 'o:final', note)
        end
      end
    end
    if applied == 1 and with_call then
      call = redis.call('GET', P .. 's:inv:' .. id) or ''
    end
  end
  out[#out + 1] = applied
  out[#out + 1] = prev_s
  out[#out + 1] = prev_r
  out[#out + 1] = prev_t
  out[#out + 1] = conflict
  out[#out + 1] = call
end
return out

-- Lease up to `max` due invocation ids, best priority first and FIFO within one, across the
-- given queues. Delayed messages whose time has come and leases that expired unacknowledged
-- are queued again first. A leased message is kept aside (b:lease, scored by its expiry)
-- until the runner acknowledges it.
--
-- With a waited limit, it first lists (like runnable_waited.lua) the invocations others wait
-- on that a runner may claim now, so a runner's retrieval round is one round trip.
--
-- ARGV: 1 prefix, 2 header: now (epoch seconds, app clock), lease expiry, max, waited limit
--   (0 = none), runnable set; 3... the queue names (none = every queue).
-- Returns: next due time ("" = none; when a delayed message or a lease falls due), the
--   count of waited ids and those ids, then pairs of (id, lease member).
local h = split(ARGV[2])
local now, expiry, max = h[1], h[2], tonumber(h[3])
local waited = {}
if tonumber(h[4]) > 0 then
  for _, id in ipairs(redis.call('ZREVRANGE', P .. 'o:waited', 0, tonumber(h[4]) - 1)) do
    local status = redis.call('HGET', P .. 'o:inv:' .. id, 's')
    if status and has(h[5], status) then
      waited[#waited + 1] = id
    end
  end
end
local queues = {}
if #ARGV == 2 then
  queues = redis.call('SMEMBERS', P .. 'b:queues')
else
  for i = 3, #ARGV do
    queues[#queues + 1] = ARGV[i]
  end
end
local SHIFT = 8589934592

-- leases that ran out: their runner died before acknowledging
for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. 'b:lease', '-inf', now, 'LIMIT', 0, 200)) do
  local a = string.find(member, '|', 1, true)
  local b = string.find(member, '|', a + 1, true)
  enqueue(string.sub(member, 1, a - 1), string.sub(member, b + 1), string.sub(member, a + 1, b - 1))
  redis.call('ZREM', P .. 'b:lease', member)
end
-- delayed messages now due
for _, queue in ipairs(queues) do
  local dkey = P .. 'b:d:' .. queue
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', dkey, '-inf', now, 'LIMIT', 0, 200)) do
    local a = string.find(member, '|', 1, true)
    enqueue(string.sub(member, 1, a - 1), queue, string.sub(member, a + 1))
    redis.call('ZREM', dkey, member)
  end
end

-- the best `max` due messages across the queues
local candidates = {}
if max > 0 then
  for _, queue in ipairs(queues) do
    local found = redis.call('ZRANGE', P .. 'b:q:' .. queue, 0, max - 1, 'WITHSCORES')
    for j = 1, #found, 2 do
      candidates[#candidates + 1] = {tonumber(found[j + 1]), found[j], queue}
    end
  end
end
table.sort(candidates, function(x, y) return x[1] < y[1] end)
local out = {'', #waited}
for _, id in ipairs(waited) do
  out[#out + 1] = id
end
local taken = {}
for j = 1, math.min(max, #candidates) do
  local score, id, queue = candidates[j][1], candidates[j][2], candidates[j][3]
  local priority = -math.floor(score / SHIFT)
  local member = id .. '|' .. int(priority) .. '|' .. queue
  redis.call('ZREM', P .. 'b:q:' .. queue, id)
  redis.call('ZADD', P .. 'b:lease', expiry, member)
  out[#out + 1] = id
  out[#out + 1] = member
  taken[queue] = true
end
-- more is due: wake the next waiting runner
for queue in pairs(taken) do
  if redis.call('ZCARD', P .. 'b:q:' .. queue) > 0 then
    ring_queue(queue)
  end
end
-- when the next delayed message or lease falls due
local next_due = false
local first = redis.call('ZRANGE', P .. 'b:lease', 0, 0, 'WITHSCORES')
if first[2] then
  next_due = tonumber(first[2])
end
for _, queue in ipairs(queues) do
  first = redis.call('ZRANGE', P .. 'b:d:' .. queue, 0, 0, 'WITHSCORES')
  if first[2] and (not next_due or tonumber(first[2]) < next_due) then
    next_due = tonumber(first[2])
  end
end
if next_due then
  out[1] = string.format('%.6f', next_due)
end
return out

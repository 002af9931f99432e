-- Lease up to `max` due invocation ids, best priority first and FIFO within one, across the
-- given queues. Delayed messages whose time has come and leases that expired unacknowledged
-- are queued again first. A leased message is kept aside (a lease timer, due at its expiry)
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
local waited = runnable_waited(tonumber(h[4]), h[5])
local queues = queue_names(3)
local SHIFT = 8589934592
local first = requeue_if_due(now)
local candidates = best_due(queues, max)
local out = {'', #waited}
for _, id in ipairs(waited) do
  out[#out + 1] = id
end
local taken = {}
for j = 1, math.min(max, #candidates) do
  local score, id, queue = candidates[j][1], candidates[j][2], candidates[j][3]
  local priority = -math.floor(score / SHIFT)
  local member = timer('l', id, int(priority), queue)
  redis.call('ZREM', P .. 'b:q:' .. queue, id)
  redis.call('ZADD', P .. 'b:timers', expiry, member)
  first = nil
  out[#out + 1] = id
  out[#out + 1] = member
  taken[queue] = true
end
ring_rest(taken)
out[1] = next_due(first)
return out

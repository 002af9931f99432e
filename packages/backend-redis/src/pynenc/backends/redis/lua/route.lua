-- Queue invocation ids: due ones in their queue's sorted set, delayed ones aside until their
-- time; wake the runners waiting on those queues.
--
-- ARGV: 1 prefix, 2 now (epoch seconds of the app's clock), 3... per message: id, queue,
--   priority (clamped), not before ("" = now).
local now = tonumber(ARGV[2])
local rung = {}
for i = 3, #ARGV do
  local m = split(ARGV[i])
  local id, queue, priority, not_before = m[1], m[2], m[3], m[4]
  if not_before ~= '' and tonumber(not_before) > now then
    redis.call('ZADD', P .. 'b:timers', not_before, timer('d', id, priority, queue))
    redis.call('SADD', P .. 'b:queues', queue)
  else
    enqueue(id, queue, priority)
  end
  rung[queue] = true
end
for queue in pairs(rung) do
  ring_queue(queue)
end
return 1

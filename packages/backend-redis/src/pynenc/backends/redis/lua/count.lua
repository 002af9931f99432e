-- Queued messages (due and delayed, not leased) in one queue or all. Delayed messages are
-- counted by going through the timers (a count is for monitoring, not a runner's path).
-- ARGV: 1 prefix, 2 queue ("" = every queue).
local queues = {ARGV[2]}
if ARGV[2] == '' then
  queues = redis.call('SMEMBERS', P .. 'b:queues')
end
local total = 0
for _, queue in ipairs(queues) do
  total = total + redis.call('ZCARD', P .. 'b:q:' .. queue)
end
for _, member in ipairs(redis.call('ZRANGE', P .. 'b:timers', 0, -1)) do
  if string.sub(member, 1, 2) == 'd|' then
    local a = string.find(member, '|', 3, true)
    local b = string.find(member, '|', a + 1, true)
    if ARGV[2] == '' or string.sub(member, b + 1) == ARGV[2] then
      total = total + 1
    end
  end
end
return total

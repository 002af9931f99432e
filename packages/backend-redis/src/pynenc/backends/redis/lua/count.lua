-- Queued messages (due and delayed, not leased) in one queue or all.
-- ARGV: 1 prefix, 2 queue ("" = every queue).
local queues = {ARGV[2]}
if ARGV[2] == '' then
  queues = redis.call('SMEMBERS', P .. 'b:queues')
end
local total = 0
for _, queue in ipairs(queues) do
  total = total + redis.call('ZCARD', P .. 'b:q:' .. queue) + redis.call('ZCARD', P .. 'b:d:' .. queue)
end
return total

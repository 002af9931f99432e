-- Replace what an invocation waits on (nothing, to release it). o:wait:<waiter> lists the
-- waited ids; o:waited counts, per waited id, how many waiters need it.
-- ARGV: 1 prefix, 2 waiter id, then the waited ids.
local list, counts = P .. 'o:wait:' .. ARGV[2], P .. 'o:waited'
for _, waited in ipairs(redis.call('LRANGE', list, 0, -1)) do
  if tonumber(redis.call('ZINCRBY', counts, -1, waited)) <= 0 then
    redis.call('ZREM', counts, waited)
  end
end
redis.call('DEL', list)
for i = 3, #ARGV do
  redis.call('RPUSH', list, ARGV[i])
  redis.call('ZINCRBY', counts, 1, ARGV[i])
end
return 1

-- Store a trigger definition and index it under each of its conditions (once, in order).
-- ARGV: 1 prefix, 2 trigger id, 3 definition, then condition ids.
local id = ARGV[2]
redis.call('HSET', P .. 't:trig', id, ARGV[3])
for i = 4, #ARGV do
  local seq = redis.call('INCR', P .. 't:seq')
  redis.call('ZADD', P .. 't:ct:' .. ARGV[i], 'NX', seq, id)
  redis.call('SADD', P .. 't:tc:' .. id, ARGV[i])
end
return 1

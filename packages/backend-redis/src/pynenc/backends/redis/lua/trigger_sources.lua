-- Link a run to what caused it. ARGV: 1 prefix, 2 run id, then source ids.
for i = 3, #ARGV do
  local seq = redis.call('INCR', P .. 't:seq')
  redis.call('ZADD', P .. 't:src:' .. ARGV[i], 'NX', seq, ARGV[2])
  redis.call('SADD', P .. 't:rs:' .. ARGV[2], ARGV[i])
end
return 1

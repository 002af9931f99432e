-- Record satisfied conditions (a repeated id keeps its place and takes the new value).
-- ARGV: 1 prefix, then per entry (3 values): valid condition id, condition id, value.
for i = 2, #ARGV, 3 do
  local seq = redis.call('INCR', P .. 't:seq')
  redis.call('ZADD', P .. 't:vorder', 'NX', seq, ARGV[i])
  redis.call('HSET', P .. 't:valid', ARGV[i], cjson.encode({ARGV[i + 1], ARGV[i + 2]}))
end
return 1

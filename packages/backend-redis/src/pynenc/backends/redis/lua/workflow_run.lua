-- Store a workflow run (its type and parent), listed once in order, and by type.
-- ARGV: 1 prefix, 2 workflow id, 3 stored run ([type, parent]), 4 type.
local id = ARGV[2]
local previous = redis.call('HGET', P .. 's:wf', id)
if previous then
  local old_type = cjson.decode(previous)[1]
  if old_type ~= ARGV[4] then
    redis.call('ZREM', P .. 's:wft:' .. old_type, id)
  end
end
redis.call('HSET', P .. 's:wf', id, ARGV[3])
local seq = redis.call('INCR', P .. 's:seq')
redis.call('ZADD', P .. 's:wfo', 'NX', seq, id)
redis.call('ZADD', P .. 's:wft:' .. ARGV[4], 'NX', seq, id)
return 1

-- Claim an abandoned trigger run again: set its claim time to the new one only if it is still
-- the expected one and the run created no invocation. 1 when it applied.
-- ARGV: 1 prefix, 2 run id, 3 expected claimed at (us), 4 new claimed at (us).
local stored = redis.call('HGET', P .. 't:run', ARGV[2])
if not stored then
  return 0
end
local run = cjson.decode(stored)
if tostring(run[2]) ~= ARGV[3] or (type(run[3]) == 'table' and #run[3] > 0) then
  return 0
end
run[2] = ARGV[4]
redis.call('HSET', P .. 't:run', ARGV[2], cjson.encode(run))
redis.call('ZADD', P .. 't:runs', ARGV[4], ARGV[2])
return 1

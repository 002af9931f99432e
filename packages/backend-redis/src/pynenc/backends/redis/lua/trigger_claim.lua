-- Claim a trigger run: 1 for the first caller only. A run is [trigger id, claimed at (us, as
-- a string), [invocation ids]] in t:run, ordered by claim time in t:runs.
-- ARGV: 1 prefix, 2 run id, 3 trigger id, 4 claimed at (us).
if redis.call('HSETNX', P .. 't:run', ARGV[2], cjson.encode({ARGV[3], ARGV[4], {}})) == 0 then
  return 0
end
redis.call('ZADD', P .. 't:runs', ARGV[4], ARGV[2])
return 1

-- Add one to an invocation's retry count (0 and nothing stored when it is unknown).
-- ARGV: 1 prefix, 2 id.
local key = P .. 'o:inv:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then
  return 0
end
return redis.call('HINCRBY', key, 'n', 1)

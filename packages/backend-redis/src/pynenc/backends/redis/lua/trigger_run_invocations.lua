-- Append invocation ids to a claimed run. ARGV: 1 prefix, 2 run id, then the ids.
local stored = redis.call('HGET', P .. 't:run', ARGV[2])
if not stored then
  return 0
end
local run = cjson.decode(stored)
local ids = run[3]
if type(ids) ~= 'table' then
  ids = {}
end
for i = 3, #ARGV do
  ids[#ids + 1] = ARGV[i]
end
run[3] = ids
redis.call('HSET', P .. 't:run', ARGV[2], cjson.encode(run))
return 1

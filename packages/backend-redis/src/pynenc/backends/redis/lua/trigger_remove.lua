-- Remove a trigger definition and its condition index entries. ARGV: 1 prefix, 2 trigger id.
local id = ARGV[2]
for _, condition in ipairs(redis.call('SMEMBERS', P .. 't:tc:' .. id)) do
  redis.call('ZREM', P .. 't:ct:' .. condition, id)
end
redis.call('DEL', P .. 't:tc:' .. id)
redis.call('HDEL', P .. 't:trig', id)
return 1

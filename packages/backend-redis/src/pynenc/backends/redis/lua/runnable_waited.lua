-- Invocations others wait on that a runner may claim now, most waited-on first.
-- ARGV: 1 prefix, 2 limit, 3 runnable set.
local out = {}
for _, id in ipairs(redis.call('ZREVRANGE', P .. 'o:waited', 0, tonumber(ARGV[2]) - 1)) do
  local status = redis.call('HGET', P .. 'o:inv:' .. id, 's')
  if status and has(ARGV[3], status) then
    out[#out + 1] = id
  end
end
return out

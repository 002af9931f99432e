-- Store (or replace) invocations' calls. ARGV: 1 prefix, then per invocation (3 values):
-- id, stored call, parent id ("" = none).
for i = 2, #ARGV, 3 do
  local id, parent = ARGV[i], ARGV[i + 2]
  redis.call('SET', P .. 's:inv:' .. id, ARGV[i + 1])
  redis.call('SADD', id_bucket(id), id)
  if parent ~= '' then
    redis.call('ZADD', P .. 's:kids:' .. parent, 'NX', redis.call('INCR', P .. 's:seq'), id)
  end
end
return 1

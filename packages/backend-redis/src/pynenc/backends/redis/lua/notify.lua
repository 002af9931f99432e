-- Wake result waiters of invocations that are final (their result is stored).
-- ARGV: 1 prefix, then the ids.
for i = 2, #ARGV do
  local id = ARGV[i]
  local v = redis.call('HMGET', P .. 'o:inv:' .. id, 's', 'r', 't')
  if v[1] and has(T.final, v[1]) then
    redis.call('PUBLISH', P .. 'o:final', id .. '|' .. v[1] .. '|' .. (v[2] or '') .. '|' .. v[3])
  end
end
return 1

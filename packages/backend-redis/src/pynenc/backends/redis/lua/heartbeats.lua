-- Record that runners are alive: creation time kept, last heartbeat moved, the atomic-service
-- permission only ever granted. ARGV: 1 prefix, 2 now (us), 3 allowed ("1"/"0"), then ids.
-- A runner is stored as "created|last|allowed".
local key = P .. 'o:runners'
for i = 4, #ARGV do
  local runner = ARGV[i]
  local created, allowed = ARGV[2], ARGV[3]
  local known = redis.call('HGET', key, runner)
  if known then
    local a = string.find(known, '|', 1, true)
    local b = string.find(known, '|', a + 1, true)
    created = string.sub(known, 1, a - 1)
    if string.sub(known, b + 1) == '1' then
      allowed = '1'
    end
  end
  redis.call('HSET', key, runner, created .. '|' .. ARGV[2] .. '|' .. allowed)
end
return 1

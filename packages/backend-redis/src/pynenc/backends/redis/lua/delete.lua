-- Forget invocations in the orchestrator (their indexes included); the state backend keeps
-- their records. ARGV: 1 prefix, then the ids. Returns how many existed.
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local f = read_inv(id)
  if f then
    unindex(id, f, nil)
    redis.call('DEL', P .. 'o:inv:' .. id)
    removed = removed + 1
  end
end
return removed

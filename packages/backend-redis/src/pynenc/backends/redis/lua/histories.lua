-- Append history entries. ARGV: 1 prefix, 2 state retention (seconds, 0 = keep; for the
-- history time index), 3... per entry: invocation id, time (us), entry.
local retention = tonumber(ARGV[2])
for i = 3, #ARGV do
  local e = split(ARGV[i])
  add_history(e[1], e[2], e[3], '', retention)
end
return 1

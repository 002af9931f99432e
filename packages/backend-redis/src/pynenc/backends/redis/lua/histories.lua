-- Append history entries. ARGV: 1 prefix, 2... per entry: invocation id, time (us), entry.
for i = 2, #ARGV do
  local e = split(ARGV[i])
  add_history(e[1], e[2], e[3])
end
return 1

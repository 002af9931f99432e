-- The next batch of history entries with start <= time < end, oldest first, after the entry
-- `after` (an index member "id:n"; "" = from the start). Pages by rank when that entry is
-- still indexed, by time otherwise.
-- ARGV: 1 prefix, 2 start (us), 3 end (us), 4 after member, 5 after time, 6 batch size.
-- Returns a flat list: member, time, entry, ...
local key = P .. 's:htime'
local batch = tonumber(ARGV[6])
local members
if ARGV[4] ~= '' and redis.call('ZRANK', key, ARGV[4]) then
  local rank = redis.call('ZRANK', key, ARGV[4])
  members = redis.call('ZRANGE', key, rank + 1, rank + batch, 'WITHSCORES')
elseif ARGV[4] ~= '' then
  members = redis.call('ZRANGEBYSCORE', key, '(' .. ARGV[5], '(' .. ARGV[3], 'WITHSCORES',
    'LIMIT', 0, batch)
else
  members = redis.call('ZRANGEBYSCORE', key, ARGV[2], '(' .. ARGV[3], 'WITHSCORES',
    'LIMIT', 0, batch)
end
local stop = tonumber(ARGV[3])
local out = {}
for j = 1, #members, 2 do
  local member, score = members[j], members[j + 1]
  if tonumber(score) >= stop then
    break
  end
  local sep = string.find(member, ':[^:]*$')
  local entry = redis.call('LINDEX', P .. 's:hist:' .. string.sub(member, 1, sep - 1),
    tonumber(string.sub(member, sep + 1)))
  if entry then
    out[#out + 1] = member
    out[#out + 1] = score
    out[#out + 1] = entry
  end
end
return out

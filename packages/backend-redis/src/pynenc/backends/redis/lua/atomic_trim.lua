-- Apply the retention of atomic-service execution records: drop those that ended before the
-- cutoff, then all but the newest `keep` by start time. Records are JSON arrays
-- [runner, run id, start us, end us or null, status, reason] in o:atomic, ordered by start in
-- o:atomic:start. ARGV: 1 prefix, 2 ended-before cutoff (us, "" = none), 3 keep (0 = all).
local records, order = P .. 'o:atomic', P .. 'o:atomic:start'
if ARGV[2] ~= '' then
  local cutoff = tonumber(ARGV[2])
  local all = redis.call('HGETALL', records)
  for j = 1, #all, 2 do
    local ended = cjson.decode(all[j + 1])[4]
    if ended ~= cjson.null and ended < cutoff then
      redis.call('HDEL', records, all[j])
      redis.call('ZREM', order, all[j])
    end
  end
end
local keep = tonumber(ARGV[3])
if keep > 0 then
  local old = redis.call('ZRANGE', order, 0, -(keep + 1))
  for _, run in ipairs(old) do
    redis.call('HDEL', records, run)
    redis.call('ZREM', order, run)
  end
end
return 1

-- Compare-and-set of a cron condition's last run time: set it to `new` only if it is
-- `expected` ("" = never set). ARGV: 1 prefix, 2 condition id, 3 expected (us), 4 new (us).
local key = P .. 't:cron'
local current = redis.call('HGET', key, ARGV[2])
if (ARGV[3] == '' and not current) or (current and current == ARGV[3]) then
  redis.call('HSET', key, ARGV[2], ARGV[4])
  return 1
end
return 0

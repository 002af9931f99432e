-- Drop events and runs older than their cutoffs, then all but the newest `max` of each (0
-- keeps all); a dropped run takes its source links with it.
-- ARGV: 1 prefix, 2 events cutoff (us), 3 runs cutoff (us), 4 max events, 5 max runs.
local function drop_run(run)
  for _, source in ipairs(redis.call('SMEMBERS', P .. 't:rs:' .. run)) do
    redis.call('ZREM', P .. 't:src:' .. source, run)
  end
  redis.call('DEL', P .. 't:rs:' .. run)
  redis.call('HDEL', P .. 't:run', run)
  redis.call('ZREM', P .. 't:runs', run)
end
local function drop_event(event)
  redis.call('HDEL', P .. 't:ev', event)
  redis.call('ZREM', P .. 't:evs', event)
end
local function purge(order, cutoff, keep, drop)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. order, '-inf', '(' .. cutoff)) do
    drop(member)
  end
  if keep > 0 then
    for _, member in ipairs(redis.call('ZRANGE', P .. order, 0, -(keep + 1))) do
      drop(member)
    end
  end
end
purge('t:evs', ARGV[2], tonumber(ARGV[4]), drop_event)
purge('t:runs', ARGV[3], tonumber(ARGV[5]), drop_run)
return 1

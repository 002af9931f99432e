-- Reads of the history time index (see history_window in the prelude), in two modes.
--
-- ARGV: 1 prefix; 2 mode.
-- Mode "w" (windows): 3 first window, 4 last window, 5 most windows to look at. Returns the
--   next window to look at ("" when past the last), then the windows that hold entries.
-- Mode "e" (entries): 3 window, 4 SSCAN cursor of its set, 5 start (us), 6 end (us), 7 ids to
--   read. Returns the next cursor ("0" when done), then per entry with start <= time < end:
--   id, position in its history, time (us), entry.
local mode = ARGV[2]
if mode == 'w' then
  local first, last, most = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local stop = math.min(last, first + most - 1)
  local out = {''}
  for window = first, stop do
    local name = string.format('%d', window)
    if redis.call('EXISTS', P .. 's:hw:' .. name) == 1 then
      out[#out + 1] = name
    end
  end
  if stop < last then
    out[1] = string.format('%d', stop + 1)
  end
  return out
end
local start, stop = tonumber(ARGV[5]), tonumber(ARGV[6])
local scan = redis.call('SSCAN', P .. 's:hw:' .. ARGV[3], ARGV[4], 'COUNT', ARGV[7])
local out = {scan[1]}
for _, id in ipairs(scan[2]) do
  for n, entry in ipairs(redis.call('LRANGE', P .. 's:hist:' .. id, 0, -1)) do
    local t = tonumber(string.match(entry, '^%[(%-?%d+)'))
    if t and t >= start and t < stop then
      out[#out + 1] = id
      out[#out + 1] = n - 1
      out[#out + 1] = string.format('%d', t)
      out[#out + 1] = entry
    end
  end
end
return out

-- One page of invocation ids matching every filter, oldest registration first, after the
-- cursor (a registration sequence). Candidates come from the narrowest index the caller chose
-- (`mode`): the owners' sets, the registration-key holder, the running-key set, or a merge of
-- the status sets in registration order; a merge examines at most `budget` candidates per call
-- and may return a short page with a cursor to go on.
--
-- ARGV: 1 prefix, 2 mode (own|reg|run|scan), 3 cursor ("0" = start), 4 limit, 5 budget,
--   6 registered after (us or ""), 7 registered before, 8 status changed before, 9 call id,
--   10 registration key, 11 running key, then four lists, each a count followed by its
--   items: task ids, statuses, owner runner ids, sources (status names to merge, runner ids,
--   or the key).
-- Returns: next cursor ("" = none), then the ids.
local mode, cursor = ARGV[2], tonumber(ARGV[3])
local limit, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local after, before, changed_before = ARGV[6], ARGV[7], ARGV[8]
local call_id, regkey, runkey = ARGV[9], ARGV[10], ARGV[11]

local pos = 12
local function list()
  local n = tonumber(ARGV[pos])
  local items = {}
  for j = 1, n do
    items[j] = ARGV[pos + j]
  end
  pos = pos + n + 1
  return items
end
local function lookup(items)
  if #items == 0 then
    return nil
  end
  local t = {}
  for _, item in ipairs(items) do
    t[item] = true
  end
  return t
end
local tasks, statuses, owners = lookup(list()), lookup(list()), lookup(list())
local sources = list()

local function matches(id)
  local v = redis.call('HMGET', P .. 'o:inv:' .. id, 's', 'r', 't', 'k', 'c', 'g', 'u', 'a')
  local s, r, t, k, c, g, u, a = v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]
  if not s then return false end
  if tasks and not tasks[k] then return false end
  if statuses and not statuses[s] then return false end
  if after ~= '' and tonumber(a) < tonumber(after) then return false end
  if before ~= '' and tonumber(a) >= tonumber(before) then return false end
  if changed_before ~= '' and tonumber(t) >= tonumber(changed_before) then return false end
  if owners and not (has(T.owned, s) and owners[r]) then return false end
  if call_id ~= '' and c ~= call_id then return false end
  if regkey ~= '' and g ~= regkey then return false end
  if runkey ~= '' and u ~= runkey then return false end
  return true
end

local candidates = {}
local capped = false
if mode == 'scan' then
  for _, status in ipairs(sources) do
    local found = redis.call('ZRANGEBYSCORE', P .. 'o:st:' .. status, '(' .. int(cursor), '+inf',
      'WITHSCORES', 'LIMIT', 0, budget)
    if #found / 2 >= budget then
      capped = true
    end
    for j = 1, #found, 2 do
      candidates[#candidates + 1] = {tonumber(found[j + 1]), found[j]}
    end
  end
else
  local ids = {}
  if mode == 'own' then
    for _, runner in ipairs(sources) do
      for _, id in ipairs(redis.call('SMEMBERS', P .. 'o:own:' .. runner)) do
        ids[#ids + 1] = id
      end
    end
  elseif mode == 'reg' then
    local holder = redis.call('GET', P .. 'o:reg:' .. sources[1])
    if holder then
      ids[1] = holder
    end
  elseif mode == 'run' then
    ids = redis.call('SMEMBERS', P .. 'o:run:' .. sources[1])
  end
  for _, id in ipairs(ids) do
    local q = tonumber(redis.call('HGET', P .. 'o:inv:' .. id, 'q') or '0')
    if q > cursor then
      candidates[#candidates + 1] = {q, id}
    end
  end
end
table.sort(candidates, function(x, y) return x[1] < y[1] end)

local out = {''}
local count = 0
local last = #candidates
if capped and last > budget then
  last = budget
end
for j = 1, last do
  local candidate = candidates[j]
  if matches(candidate[2]) then
    if count == limit then
      return out
    end
    count = count + 1
    out[#out + 1] = candidate[2]
    out[1] = int(candidate[1])
  end
  if capped and j == last then
    out[1] = int(candidate[1])
    return out
  end
end
out[1] = ''
return out

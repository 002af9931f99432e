-- Compare-and-set status changes of one or more invocations, each with what goes with it in
-- the same atomic step: its history entry, the result or exception of a final move, the
-- wake-up of result waiters, the call data a claiming runner needs, the broker leases it
-- acknowledges. Validation uses only the rule passed in (from the status table).
--
-- ARGV: 1 prefix; 2 header (see transition in the prelude); 3 the value; 4 broker lease
--   members to delete (a record, "" for none); 5... per invocation: id, history time (us),
--   history entry.
-- Returns per invocation: applied (1/0), previous status, runner, time, conflicting id,
--   stored call ("" unless flag d and applied).
if ARGV[4] ~= '' then
  redis.call('ZREM', P .. 'b:timers', unpack(split(ARGV[4])))
end
local out = {}
for i = 5, #ARGV do
  transition(ARGV[2], ARGV[3], ARGV[i], out)
end
return out

-- A runner thread's final move of the invocation it ran and, when that applied, a claim
-- round for the slot it frees (claim_round.lua), in one step: the thread goes straight on to
-- the next invocation.
--
-- ARGV: 1 prefix; 2 the final move's header (see transition in the prelude; its token also
--   marks the claims); 3 its value; 4 the invocation: id, history time (us), history entry;
--   5 the claim round's header (see claim_round.lua); 6... queue names (none = every queue).
-- Returns the final move's 6 values (as transition.lua), then the round's (as claim_round.lua;
--   only its next due time when the move did not apply).
local out = {}
local applied = transition(ARGV[2], ARGV[3], ARGV[4], out)
local round = {''}
if applied then
  round = claim_round(ARGV[5], 6)
end
for _, value in ipairs(round) do
  out[#out + 1] = value
end
return out

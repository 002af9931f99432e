-- A runner thread's final move of the invocation it ran and, when that applied, a claim
-- round for the slot it frees (claim_round.lua), in one step: the thread goes straight on to
-- the next invocation.
--
-- ARGV: 1 prefix; 2 the final move's header (see transition in the prelude; its token also
--   marks the claims); 3 its value; 4 the invocation: id, history time (us), history entry;
--   5 the claim round's header (see claim_round.lua); 6 the token of a wait that follows in the
--   same round trip ("" = none, see below); 7... queue names (none = every queue).
-- Returns the final move's 6 values (as transition.lua), then the round's (as claim_round.lua;
--   only its next due time when the move did not apply).
--
-- A runner that expects nothing to be due sends this step, a BLPOP on its wake-up lists and
-- b:self:<token>, and a claim round guarded by <token> together. When this step already took
-- its next invocation, or its move did not apply, nothing more may be claimed and nothing
-- should be waited for: it leaves a token in b:self:<token> (the BLPOP returns at once) and
-- the guard b:fc:<token> (the round that follows claims nothing).
local out = {}
local applied = transition(ARGV[2], ARGV[3], ARGV[4], out)
local round = {''}
if applied then
  round = claim_round(ARGV[5], 7)
end
for _, value in ipairs(round) do
  out[#out + 1] = value
end
local follows = ARGV[6]
if follows ~= '' and (not applied or #round > 1) then
  redis.call('RPUSH', P .. 'b:self:' .. follows, '1')
  redis.call('PEXPIRE', P .. 'b:self:' .. follows, 60000)
  redis.call('SET', P .. 'b:fc:' .. follows, '1', 'PX', 60000)
end
return out

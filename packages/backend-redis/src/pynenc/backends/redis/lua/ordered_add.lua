-- Add a member to an insertion-ordered set once (later additions keep the first position).
-- ARGV: 1 prefix, 2 set key (under the prefix), 3 member.
redis.call('ZADD', P .. ARGV[2], 'NX', redis.call('INCR', P .. 's:seq'), ARGV[3])
return 1

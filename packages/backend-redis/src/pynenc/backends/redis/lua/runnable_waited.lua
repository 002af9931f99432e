-- Invocations others wait on that a runner may claim now, most waited-on first.
-- ARGV: 1 prefix, 2 limit, 3 runnable set.
return runnable_waited(tonumber(ARGV[2]), ARGV[3])

-- A client that paced itself alone while Redis was away comes back. Until every client that
-- fell back has had time to come back, the shared rate is cut to the share of those back (the
-- others still pace themselves, each at its share).
-- Arguments: how long that takes, in seconds; the rate the client last knew (restores a
-- learnt rate lost with a restarted Redis; 0: none). Returns how many are back.
local grace, known = tonumber(ARGV[ARGS]), tonumber(ARGV[ARGS + 1])
if S.regroup_until > now then S.rejoined = S.rejoined + 1 else S.rejoined = 1 end
S.regroup_until = now + grace
if not STORED.rate and known > 0 then  -- no learnt rate in Redis: the state was lost
  S.rate, S.rate_at_decrease, S.slow_start = known, known, 0
end
save()
return S.rejoined

-- A 429 (or 503): start or extend the shared cool-down, with no burst after it, and lower the
-- rate as LocalLimiter.on_throttled does.
-- Arguments: the reply's Retry-After in seconds ('': none); when its request was to go, and
-- when that turn was given; then the client's reports (take_reports), which come before the
-- 429 as its replies did. Returns the rate from now on.
local retry_after, ticket, given = ARGV[ARGS], tonumber(ARGV[ARGS + 1]), tonumber(ARGV[ARGS + 2])
take_reports(ARGS + 3)

-- LocalLimiter._cool_down: hold every call until the wait's end; the pause this adds.
local upcoming = 0
if retry_after ~= '' and tonumber(retry_after) > 0 then
  local ends = now + math.min(tonumber(retry_after), CFG.max_cooldown)
  if ends > S.cooldown_until then
    upcoming = ends - math.max(S.cooldown_until, now)
    S.cooldown_until = ends
  end
  S.next = math.max(S.next, S.cooldown_until)
end

local rate
if not CFG.adaptive then
  S.told_throttled = 1  -- the margins were too thin for this service
  rate = CFG.per_second * TOLD_AFTER_429
else
  local demand = now - S.held_back_at <= DEMAND_WINDOW
  on_throttled(ticket, now, upcoming, demand, S.demand_since, given)
  rate = S.rate
end
save()
return fmt(rate)

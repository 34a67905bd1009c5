-- What a client saw since its last round trip, carried by the next one (any script): the
-- latest rate-limit headers (five arguments: the slot of their reply's request, remaining,
-- reset, limit, window; '' for each unknown, the slot '' for none), then the number of
-- successes, then when each of their requests was to go. As LocalLimiter: the headers first
-- (on_rate_headers), then the successes (on_success).
local function take_reports(first)
  local function optional(i) if ARGV[i] == '' then return nil end return tonumber(ARGV[i]) end
  if ARGV[first] ~= '' then
    quota_update(tonumber(ARGV[first]), tonumber(ARGV[first + 1]), tonumber(ARGV[first + 2]),
      optional(first + 3), optional(first + 4), now)
    -- Headers saying the quota is spent hold the turns already given ahead too, as a 429 does.
    if S.quota_budget <= 0 then S.cooldown_until = math.max(S.cooldown_until, S.quota_hold_until) end
  end
  -- LocalLimiter.on_success: the rate, not the headers' quota, is what holds callers back.
  local demand = now - S.held_back_at <= DEMAND_WINDOW and S.rate < S.quota_rate
  for i = first + 6, first + 5 + tonumber(ARGV[first + 5]) do
    if CFG.adaptive then on_success(tonumber(ARGV[i]), now, demand) end
  end
end

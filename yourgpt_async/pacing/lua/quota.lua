-- What rate-limit headers said, as a budget the fleet spends: line for line _quota.Quota
-- (its sent list is the sorted set of turns given), and how LocalLimiter paces by it.

local function quota_spent(now)
  S.quota_hold_until = math.min(S.quota_reset_at, now + S.quota_window, now + CFG.max_cooldown)
end

local function quota_pace(now)
  local left = S.quota_reset_at - now
  if S.quota_budget <= 0 or left <= 0 then return INF end
  return math.max(S.quota_budget / left, S.quota_sustained)
end

-- Quota.update, then LocalLimiter.on_rate_headers: the pace that spends the budget by the
-- reset. limit and window are nil when the headers did not say.
local function quota_update(ticket, remaining, reset, limit, window, now)
  if ticket < S.quota_reset_at and S.quota_reset_at <= now then return end
  local after = redis.call('ZCOUNT', GRANTS, score(ticket), '+inf')
  local budget = remaining - math.max(0, after - 1)
  local reset_at = now + reset
  if now < S.quota_reset_at and S.quota_reset_at < reset_at and budget <= S.quota_budget then
    reset_at = S.quota_reset_at
  end
  S.quota_budget, S.quota_reset_at = budget, reset_at
  if window ~= nil then
    S.quota_window = window
    if limit ~= nil then S.quota_sustained = limit / window end
  end
  if budget <= 0 then quota_spent(now) end
  local horizon = redis.call('ZCOUNT', GRANTS, '-inf', score(now - SENT_HORIZON, true))
  if horizon > redis.call('ZCARD', GRANTS) / 2 then
    redis.call('ZREMRANGEBYRANK', GRANTS, 0, horizon - 1)
  end
  S.quota_rate = math.max(quota_pace(now), CFG.floor)
end

-- Quota.given: one turn given, the request to go at slot.
local function quota_take(slot)
  if S.quota_budget == INF then return end  -- no headers yet: nothing to count
  S.quota_budget = S.quota_budget - 1
  S.seq = S.seq + 1
  redis.call('ZADD', GRANTS, fmt(slot), S.seq)
  if redis.call('ZCARD', GRANTS) > 2 * SENT_KEPT then
    redis.call('ZREMRANGEBYRANK', GRANTS, 0, SENT_KEPT - 1)
  end
  if S.quota_budget <= 0 then quota_spent(slot) end
end

-- LocalLimiter._hold: until when nobody may go.
local function hold_until()
  if S.quota_budget <= 0 then return math.max(S.quota_hold_until, S.cooldown_until) end
  return S.cooldown_until
end

-- The adaptive rate: line for line the methods of _model.RateModel, on the fields of S that
-- bear its attributes' names (ramp and refill, tuples there, are three fields each here).

local function held_back(now)
  if S.origin == nil then S.origin = now end
end

local function may_probe(now)
  if S.origin == nil then return false end  -- as a comparison with NaN
  return S.paused_total + S.probe_price <= PAUSE_BUDGET * (now - S.origin)
end

local function grow(now, successes)
  local rate = S.rate
  if S.slow_start == 1 then
    if now - S.step_since >= SLOW_START_STEP then S.step_base, S.step_since = rate, now end
    rate = math.min(rate + SLOW_START_GAIN * successes, 2 * S.step_base)
  else
    local near = rate >= PLATEAU * S.estimate
    local costly = S.probe_price * rate > COSTLY_PAUSE
    if (near or costly) and not may_probe(now) then return end
    local step = CFG.increase * S.rate_at_decrease / rate * successes
    if near then rate = rate + step * PROBE_SLOWDOWN else rate = rate + step end
  end
  S.rate = math.max(CFG.floor, math.min(rate, CFG.ceiling))
end

local function refill_estimate(now)
  return refill_rate(S.ramp_since, S.ramp_sent, S.refill_resumed, S.recount_until,
    S.refill_pause, S.refill_since, now)
end

local function recount(now)
  if now >= S.recount_end then
    S.recount_until = -INF
    return
  end
  local estimate
  if S.refill_resumed ~= nil then
    estimate = refill_estimate(now)
  elseif S.ramp_since ~= nil then
    estimate = math.min(S.ramp_top, ramp_peak(S.ramp_since, S.ramp_sent))
  else
    return
  end
  if estimate > S.estimate then
    S.estimate = estimate
    S.rate = math.min(MARGIN * estimate, CFG.ceiling)
    S.rate_at_decrease = S.rate
  end
end

local function on_success(ticket, now, demand)
  log_add(ticket)
  if ticket <= S.recount_until then
    recount(now)
    return
  end
  if demand and S.rate < CFG.ceiling then grow(now, 1) end
end

local function decreased(ticket, now, pause, demand, demand_since)
  local costly = pause * S.rate > COSTLY_PAUSE
  if S.slow_start == 1 then
    local top = S.rate / 2
    S.estimate = top
    if not costly then return top end
    if not demand then return top * CFG.decrease ^ 3 end
    S.ramp_since, S.ramp_sent, S.ramp_top = demand_since, ticket, top
    S.recount_until = ticket
    S.refill_resumed, S.refill_pause, S.refill_since = nil, nil, nil
    S.estimate = math.min(top, ramp_peak(demand_since, ticket))
    return MARGIN * S.estimate
  end
  if costly and S.resumed_at <= now and now <= S.resumed_at + S.resume_pause then
    S.recount_until = ticket
    S.refill_resumed, S.refill_pause, S.refill_since = S.resumed_at, S.resume_pause, demand_since
    S.estimate = math.min(math.max(S.rate, S.estimate), refill_estimate(now))
    return MARGIN * S.estimate
  end
  if costly and now > S.resumed_at then
    local resumed = resumed_rate(S.resumed_at, ticket)
    if resumed ~= INF then
      S.estimate = math.min(S.rate, resumed)
      return MARGIN * S.estimate
    end
  end
  local accepted = accepted_rate(S.last_decrease, S.paused - pause)
  S.estimate = math.min(S.rate, accepted)
  if costly then return CFG.decrease ^ 3 * S.estimate end
  return CFG.decrease * S.estimate
end

local function on_throttled(ticket, now, pause, demand, demand_since, given)
  held_back(now)
  S.paused = S.paused + pause
  S.paused_total = S.paused_total + pause
  if given == nil then given = ticket end
  if given < S.last_decrease then return end
  S.probe_price = pause
  S.rate = math.max(CFG.floor,
    math.min(CFG.ceiling, decreased(ticket, now, pause, demand, demand_since)))
  S.rate_at_decrease = S.rate
  S.slow_start = 0
  S.last_decrease = now
  S.paused = pause
  if pause > 0 then
    S.recount_end, S.resumed_at = now + pause, now + pause
    S.resume_pause = pause
  end
end

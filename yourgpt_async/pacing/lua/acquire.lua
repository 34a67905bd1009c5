-- Reserve a turn, or confirm one after its wait; and take in what the client saw since its
-- last call (its successes, the latest rate-limit headers). One round trip per request.
--
-- Arguments: mode ('r' reserve, 'c' confirm, 'n' only report); priority ('i', 'b'); the most
-- seconds the caller can wait (-1: no limit); then the client's reports (take_reports).
-- Returns {status, wait, now, rate, slot, slow start (1 or 0)}: status 0 = go after wait
-- seconds, at slot;
-- 1 = a bulk call, or a turn too far ahead of a rate still being learnt: not booked, ask again
-- after wait; 2 = not booked, the turn is wait away, past the caller's time; 3 = a cool-down
-- began (confirm only): reserve anew; 4 = the cool-down (wait left) outlasts the caller's time.
local mode, bulk, maxwait = ARGV[ARGS], ARGV[ARGS + 1] == 'b', tonumber(ARGV[ARGS + 2])

take_reports(ARGS + 3)

local function reply(status, wait, rate, slot)
  save()
  return {status, fmt(wait), fmt(now), fmt(rate), fmt(slot), S.slow_start}
end

local hold = hold_until()
if mode == 'n' then return reply(0, 0, S.rate, now) end
if mode == 'c' then  -- a turn given ahead: held only by a pause that began since
  if S.cooldown_until <= now then return reply(0, 0, S.rate, now) end
  return reply(3, S.cooldown_until - now, S.rate, now)
end
if hold > now and maxwait >= 0 and hold - now > maxwait then
  return reply(4, hold - now, S.rate, now)
end

-- The rate and burst in force: LocalLimiter's margins for a told limit.
local rate, burst
if CFG.adaptive then
  rate, burst = S.rate, math.max(1, CFG.burst)
elseif S.told_throttled == 1 then
  rate, burst = CFG.per_second * TOLD_AFTER_429, 1
else
  rate = CFG.per_second * TOLD_MARGIN
  burst = math.max(1, math.floor(CFG.burst * (1 - BURST_RESERVE)))
end
local pace = math.min(rate, S.quota_rate)
if S.regroup_until > now then  -- the fleet re-forms after an outage: the share of those back
  pace = pace * math.min(1, S.rejoined / CFG.clients)
end
local interval = 1 / pace
local tolerance = (burst - 1) * interval
if CFG.adaptive and CFG.burst <= 1 then tolerance = math.max(tolerance, ARRIVAL_TOLERANCE) end

-- GCRA: the next free turn, no burst after a cool-down.
local next_turn = math.max(S.next, now)
if S.cooldown_until > now then next_turn = math.max(next_turn, S.cooldown_until + tolerance) end
if hold > now then next_turn = math.max(next_turn, hold) end
local slot = math.max(next_turn - tolerance, now)
-- Bulk books only while the schedule is at most one turn ahead, and never spends the burst:
-- that is left to interactive calls, which then go at once (bulk is owed every tenth turn).
if bulk and next_turn > now + interval and slot - S.last_bulk < BULK_SHARE_EVERY * interval then
  return reply(1, next_turn - interval - now, rate, slot)
end
-- A learnt rate changes as it goes: nobody reserves further ahead than two turns (in slow
-- start, which doubles the rate every 0.05 s) or LOOKAHEAD, so that slots are not fixed at a
-- rate already left behind. The caller comes back when its turn is well within reach.
local ahead = 2 * interval
if S.slow_start ~= 1 then ahead = math.max(LOOKAHEAD, ahead) end
if CFG.adaptive and slot > now + ahead then return reply(1, slot - now - ahead / 2, rate, slot) end
if maxwait >= 0 and slot - now > maxwait then return reply(2, slot - now, rate, slot) end

S.next = next_turn + interval
if slot - now >= interval then  -- queued behind others, not just arriving together
  held_back(now)
  if now - S.held_back_at > DEMAND_WINDOW then S.demand_since = now end
  S.held_back_at = now
end
if bulk then S.last_bulk = slot end
quota_take(slot)
return reply(0, slot - now, rate, slot)

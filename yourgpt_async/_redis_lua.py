"""The Lua scripts of :class:`~yourgpt_async.RedisRateLimit`: the whole shared state, in one hash.

Everything runs in Redis, on Redis's clock (``redis.call('TIME')``), so the clients' clocks never
matter. The hash ``<prefix>:{<name>}`` holds (times in µs of Redis's clock, rates per second):

=========  ==================================================================================
``tat``    GCRA's theoretical arrival time: the next free turn
``cd``     the end of the shared cool-down (a 429's ``Retry-After``, or a spent quota)
``rate``   the adaptive rate (absent when told: the told rate is recomputed from the args)
``rad``    the rate set at the last decrease; ``est`` where the service's limit seems to be
``ss``     ``1`` while in slow start; ``dec`` when the last decrease came
``upd``    when a turn was last given; ``held`` when a caller last had to wait
``ssb``    in slow start, the rate at ``sst``: it at most doubles every 0.05 s
``okt``    successes reported in all (each acquire carries its client's since its last);
           ``okd`` its value at the last decrease
``k<n>``   successes by when their request was sent (each acquire carries those times):
           ``k<id % 512>`` = ``"<id>,<count>"`` for the 10 ms bucket ``id`` = µs // 10000
``rsa``    while the pause of a costly 429 lasts, when its request was sent: replies to
           requests sent until then recount what the service accepted, and can only raise
           the estimate; ``rtop`` the most they raise it to (half the rate slow start
           reached), or ``rfr``/``rfp`` the pause before, if the 429 came soon after it
``dms``    since when callers have been held back without a lapse of a second; ``dmo``
           ``okt`` then
``rsm``    when sending resumed after the last pause, ``rpz`` how long it was
``pz``     µs paused since the last decrease
``org``    when a caller was first held back; ``ptot`` µs paused in all; ``price`` the pause
           the last 429 cost (what a failed probe costs)
``t429``   ``1`` once a told limit saw a 429: no burst any more, 3 % under the told rate
``qr``     the rate that rate-limit headers allow, until ``qu``
``bulk``   the turn given last to a bulk call
``gu``     until when the fleet re-forms after a Redis outage; ``rj`` how many clients re-joined
=========  ==================================================================================

The adaptive rules are those of :class:`~yourgpt_async._estimate.RateModel`, transcribed: the
same constants under the same names, the same branches in the same order. The tests run both on
one virtual-time matrix of servers; :func:`on_virtual_clock` gives them the scripts with Redis's
clock replaced by one they set.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACQUIRE", "QUOTA", "REJOIN", "THROTTLE", "on_virtual_clock"]

_CLOCK: Final = (
    "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000000 + tonumber(t[2])"
)


def on_virtual_clock(script: str) -> str:
    """``script`` with Redis's clock replaced by the integer (µs) stored at ``<key>:now``, for
    tests that run the scripts on virtual time; nothing else changes."""
    if script.count(_CLOCK) != 1:
        raise ValueError("not one of this module's scripts")
    return script.replace(_CLOCK, "local now = tonumber(redis.call('GET', key .. ':now'))")


# Shared by the scripts: read the state, and the rate a told or learnt limit allows now.
_PRELUDE: Final = """
local key = KEYS[1]
local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function num(v, d) if v then return tonumber(v) else return d end end
-- The rules of _estimate.RateModel, whose names these constants keep.
local MARGIN = 0.97
local SLOW_START_GAIN = 13.862943611198906
local PLATEAU, PROBE_SLOWDOWN, COSTLY_PAUSE, PAUSE_BUDGET = 0.97, 0.1, 20, 0.03
local ASSUMED_BURST, MIN_SPAN = 0.1, 0.25
local function us(v) return string.format('%.0f', v) end
local function told_rate(ps, t429)
  if t429 == 1 then return ps * 0.97 end
  return ps * 0.99
end
-- Successes by when they were sent: 10 ms buckets in a ring of 512 fields ('k<id % 512>' =
-- "<id>,<count>", id = µs // 10000), so that spans are counted as the local limiter counts
-- its tickets, whenever the replies are reported. Returns {id -> count} for lo..hi (µs).
local function turns(lo, hi)
  local names = {}
  for i = 0, 511 do names[i + 1] = 'k' .. i end
  local v = redis.call('HMGET', key, unpack(names))
  local lo_id, hi_id = math.floor(lo / 10000), math.floor(hi / 10000)
  local got = {}
  for i = 1, 512 do
    if v[i] then
      local sep = string.find(v[i], ',', 1, true)
      local id = tonumber(string.sub(v[i], 1, sep - 1))
      if id >= lo_id and id <= hi_id then got[id] = tonumber(string.sub(v[i], sep + 1)) end
    end
  end
  return got, math.max(lo_id, hi_id - 511), hi_id
end
local function count(got, from, to)
  local n = 0
  for id = from, to do n = n + (got[id] or 0) end
  return n
end
-- The rate the service accepted while slow start ramped up from since to the 429 whose
-- request was sent at sent (µs), as _estimate.ramp_peak: the best span from a bucket's start
-- (a burst of 0.1 s of rate assumed), or the whole span if higher and at least 0.25 s long.
-- A bucket's sends are taken at its middle, and the 429's own bucket, which also holds later
-- sends, counts for its share before the 429: so the buckets read within a few per cent of
-- the send times themselves, whatever the phase of the 10 ms grid.
local function ramp_peak(since, sent)
  local last = math.floor(sent / 10000)
  local got, lo, hi = turns(since, last * 10000 + 9999)
  local best, n = 0, 0
  for id = hi, lo, -1 do
    local k = got[id] or 0
    if id == last then k = k * (sent - id * 10000) / 10000 end
    n = n + k
    local r = n / (math.max(sent - id * 10000 - 5000, 0) / 1000000 + ASSUMED_BURST)
    if r > best then best = r end
  end
  local whole = (sent - since) / 1000000
  if whole >= MIN_SPAN and n / whole > best then best = n / whole end
  if best > 0 then return best end
  return math.huge
end
-- The limit after a costly 429 (its request sent at sent) soon after the last pause's end
-- (at rsm, of rpz µs), as _estimate.refill_rate: a token bucket fitted to it and the 429
-- that ended slow start (org to rsa), drained both times from full; or, when none
-- fits or a window explains them as well, the chunk accepted since the pause per pause length
-- (or the rate accepted since demand began, pauses included, if the chunk is under 80 % of it).
local function refill_rate(okt, sent, resumed, pause_us)
  local v = redis.call('HMGET', key, 'rsa', 'dms', 'dmo')
  local pause = pause_us / 1000000
  local got, lo, hi = turns(tonumber(v[2]) or resumed, sent)
  local refill = count(got, math.floor(resumed / 10000), hi)
  local windowed = refill / pause
  if v[2] then
    local overall = (okt - tonumber(v[3])) / math.max((now - tonumber(v[2])) / 1000000, pause)
    if windowed < 0.8 * overall then windowed = overall end
  end
  local span = (sent - resumed) / 1000000
  if not v[1] or not v[2] or span <= 0 or refill < 2 then return windowed end
  local ramp_end = tonumber(v[1])
  local best, n, last = math.huge, 0, 0
  for id = math.floor(ramp_end / 10000), lo, -1 do
    n = n + (got[id] or 0)
    local drained = (ramp_end - id * 10000) / 1000000
    if drained <= pause then last = n end  -- the ramp's last pause-length
    if drained < span then
      local r = (refill - n) / (span - drained)
      if r > 0 and r < 0.9 * refill / span and n - r * drained > 1 and refill - r * span > 1
          and r < best then
        best = r
      end
    end
  end
  if best == math.huge then return windowed end
  if last >= 0.9 * refill then return math.max(best, windowed) end
  return best
end
-- The limit from what was accepted between the end of a pause (resumed) and the 429 whose
-- request was sent at sent, more than one pause later, as _estimate.resumed_rate: the bucket
-- the pause refilled gave its burst (a tenth of a second of the rate, assumed) and its rate.
local function resumed_rate(resumed, sent)
  local span = (sent - resumed) / 1000000
  if span < MIN_SPAN then return math.huge end
  local got, lo, hi = turns(resumed, sent)
  local n = count(got, lo, hi)
  if n < 2 then return math.huge end
  return n * (1 - ASSUMED_BURST / span) / span
end
"""

# Reserve a turn, or confirm one after its wait. One round trip per request.
# ARGV: 1 mode ('r' reserve, 'c' confirm, 'n' only report successes); 2 priority ('i', 'b');
# 3 the most µs the caller can wait (-1: no limit); 4 per_second (0: not told); 5 adaptive
# ('1', '0'); 6 burst (told or 0); 7 initial rate; 8 min rate; 9 increase; 10 expected
# clients; 11 idle expiry in ms;
# 12 successes the client saw since its last call (counted towards what the service accepts);
# 13.. when each of their requests was sent (µs of Redis's clock; 0 if not known).
# Returns {status, µs, now, rate}: status 0 = go after µs; 1 = bulk, not booked: ask again
# after µs; 2 = not booked, the turn is µs away, past the caller's time; 3 = a cool-down
# began (confirm only): reserve anew; 4 = the cool-down (µs left) outlasts the caller's time.
ACQUIRE: Final = (
    _PRELUDE
    + """
local s = redis.call('HMGET', key, 'tat', 'cd', 'rate', 'rad', 'est', 'ss', 'dec', 'upd',
  'held', 'org', 'ptot', 'price', 't429', 'qr', 'qu', 'bulk', 'gu', 'rj', 'ssb', 'sst', 'okt',
  'rsa', 'rtop', 'rfr', 'rfp', 'dms')
local cd = num(s[2], 0)
local okt = num(s[21], 0)
local ps = tonumber(ARGV[4])
local adaptive = ARGV[5] == '1'
local ceiling = ps
if ceiling <= 0 then ceiling = math.huge end
local held = num(s[9], 0)
if ARGV[12] ~= '0' then
  okt = tonumber(redis.call('HINCRBY', key, 'okt', ARGV[12]))
  local add, ids = {}, {}
  -- As RateModel.on_success: a success for a request sent up to the last costly 429's
  -- (rsa) recounts what the service accepted while its pause lasts; the others grow the rate.
  local rsa, fresh, late = num(s[22], -1), 0, 0
  for i = 13, #ARGV do
    local sent = tonumber(ARGV[i])
    if sent > 0 and sent <= rsa then late = late + 1 else fresh = fresh + 1 end
    local id = math.floor(sent / 10000)
    if id > 0 then
      if not add[id] then ids[#ids + 1] = id end
      add[id] = (add[id] or 0) + 1
    end
  end
  if #ids > 0 then
    table.sort(ids)
    local names = {}
    for j, id in ipairs(ids) do names[j] = 'k' .. (id % 512) end
    local old = redis.call('HMGET', key, unpack(names))
    local out = {}
    for j, id in ipairs(ids) do
      local n, keep = add[id], true
      if old[j] then
        local sep = string.find(old[j], ',', 1, true)
        local was = tonumber(string.sub(old[j], 1, sep - 1))
        if was == id then n = n + tonumber(string.sub(old[j], sep + 1)) end
        keep = was <= id  -- a newer bucket is never overwritten by a late report
      end
      if keep then out[#out + 1] = names[j]; out[#out + 1] = id .. ',' .. n end
    end
    if #out > 0 then redis.call('HSET', key, unpack(out)) end
  end
  if late > 0 and now >= cd then
    redis.call('HDEL', key, 'rsa')  -- sending has resumed at the rate set: recounting ends
  elseif late > 0 then
    local est
    if s[24] then  -- the 429 came soon after a pause (RateModel.refill)
      est = refill_rate(okt, rsa, tonumber(s[24]), tonumber(s[25]))
    else  -- it ended slow start (RateModel.ramp)
      est = math.min(tonumber(s[23]), ramp_peak(num(s[26], 0), rsa))
    end
    if est > num(s[5], 0) then
      local paced = math.min(MARGIN * est, ceiling)
      redis.call('HSET', key, 'rate', tostring(paced), 'rad', tostring(paced), 'est', tostring(est))
      s[3], s[4], s[5] = tostring(paced), tostring(paced), tostring(est)
    end
  end
  local quota = math.huge
  if num(s[15], 0) > now then quota = num(s[14], quota) end
  local rate = num(s[3], math.min(tonumber(ARGV[7]), ceiling))
  if adaptive and fresh > 0 and now - held <= 1000000 and rate < ceiling and rate < quota then
    -- As RateModel.grow: slow start doubles the rate every 0.05 s of successes, never
    -- faster; then additive increase, creeping near the last limit, within the pause budget.
    local grown = rate
    if num(s[6], 1) == 1 then
      local base, since = num(s[19], rate), num(s[20], -1e18)
      if now - since >= 50000 then base, since = rate, now end
      grown = math.min(rate + SLOW_START_GAIN * fresh, 2 * base)
      redis.call('HSET', key, 'ssb', tostring(base), 'sst', us(since))
    else
      local est = num(s[5], math.huge)
      local near = rate >= PLATEAU * est
      local price = num(s[12], 0)
      local costly = price * rate / 1000000 > COSTLY_PAUSE
      local may = num(s[11], 0) + price <= PAUSE_BUDGET * (now - num(s[10], now))
      if not ((near or costly) and not may) then
        local step = tonumber(ARGV[9]) * num(s[4], rate) / rate * fresh
        if near then step = step * PROBE_SLOWDOWN end
        grown = rate + step
      end
    end
    grown = math.max(math.min(grown, ceiling), tonumber(ARGV[8]))
    if grown ~= rate then
      redis.call('HSET', key, 'rate', tostring(grown))
      s[3] = tostring(grown)
    end
  end
end
if ARGV[1] == 'n' then return {0, 0, now, '0'} end
if ARGV[1] == 'c' then
  if cd <= now then return {0, 0, now, '0'} end
  return {3, cd - now, now, '0'}
end
local maxwait = tonumber(ARGV[3])
if cd > now and maxwait >= 0 and cd - now > maxwait then
  return {4, cd - now, now, '0'}
end
local rate
local burst = tonumber(ARGV[6])
local t429 = num(s[13], 0)
if adaptive then
  rate = num(s[3], math.min(tonumber(ARGV[7]), ceiling))
  if burst < 1 then burst = 1 end
else
  rate = told_rate(ps, t429)
  if t429 == 1 then burst = 1 else burst = math.max(1, math.floor(burst * 0.25)) end
end
local pace = rate
if num(s[15], 0) > now then pace = math.min(pace, num(s[14], pace)) end
if num(s[17], 0) > now then
  pace = pace * math.min(1, num(s[18], 1) / tonumber(ARGV[10]))
end
local interval = 1000000 / pace
local tolerance = (burst - 1) * interval
if adaptive and burst == 1 then tolerance = 2000 end
local tat = num(s[1], 0)
local floor = now
if cd > now then floor = cd + tolerance end
if tat < floor then tat = floor end
local send = math.max(tat - tolerance, now)
local bulk = ARGV[2] == 'b'
-- Bulk books only while the schedule is at most one turn ahead, and never spends the burst:
-- that is left to interactive calls, which then go at once (bulk is owed every tenth turn).
if bulk and tat > now + interval and send - num(s[16], 0) < 10 * interval then
  return {1, math.ceil(tat - interval - now), now, tostring(rate)}
end
-- A learnt rate changes as it goes: nobody reserves further ahead than 0.05 s (or two
-- turns), so that slots are not fixed at a rate already left behind.
local ahead = math.max(50000, 2 * interval)
if adaptive and send > now + ahead then
  return {1, math.ceil(send - ahead - now), now, tostring(rate)}
end
if maxwait >= 0 and send - now > maxwait then
  return {2, math.ceil(send - now), now, tostring(rate)}
end
local fields = {'tat', string.format('%.3f', tat + interval), 'upd', us(now)}
if send - now >= interval then  -- queued behind others, not just arriving together
  table.insert(fields, 'held'); table.insert(fields, us(now))
  if now - held > 1000000 then  -- demand (re)starts: earlier, the pace held nobody back
    for _, f in ipairs({'dms', us(now), 'dmo', okt}) do table.insert(fields, f) end
  end
  if not s[10] then table.insert(fields, 'org'); table.insert(fields, us(now)) end
end
if bulk then table.insert(fields, 'bulk'); table.insert(fields, string.format('%.3f', send)) end
redis.call('HSET', key, unpack(fields))
redis.call('PEXPIRE', key, ARGV[11])
return {0, math.ceil(send - now), now, tostring(rate)}
"""
)

# A 429 (or 503): start or extend the shared cool-down, with no burst after it, and lower the
# rate as the local limiter would. ARGV: 1 the pause in µs (already capped); 2 when the
# request was given its turn, µs of Redis's clock; 3 per_second (0: not told); 4 adaptive;
# 5 initial rate; 6 min rate; 7 decrease; 8 idle expiry in ms. Returns the new rate.
THROTTLE: Final = (
    _PRELUDE
    + """
local s = redis.call('HMGET', key, 'tat', 'cd', 'rate', 'ss', 'dec', 'okt', 'pz', 'ptot',
  'org', 'okd', 'oko', 'held', 'rsm', 'rpz', 'est', 'dms')
local wait = tonumber(ARGV[1])
local cd = num(s[2], 0)
local upcoming = 0
local fields = {}
local paused = num(s[7], 0)
if wait > 0 then
  local ends = now + wait
  if ends > cd then
    upcoming = ends - math.max(cd, now)
    cd = ends
    paused = paused + upcoming
    table.insert(fields, 'cd'); table.insert(fields, us(cd))
    table.insert(fields, 'pz'); table.insert(fields, us(paused))
    table.insert(fields, 'ptot'); table.insert(fields, us(num(s[8], 0) + upcoming))
  end
end
local okt = num(s[6], 0)
if not s[9] then table.insert(fields, 'org'); table.insert(fields, us(now)) end
local ps = tonumber(ARGV[3])
local rate = num(s[3], tonumber(ARGV[5]))
local sent = tonumber(ARGV[2])
if ARGV[4] ~= '1' then
  table.insert(fields, 't429'); table.insert(fields, 1)
  rate = told_rate(ps, 1)
elseif sent >= num(s[5], 0) then
  -- As RateModel.on_throttled, for a request sent since the last decrease.
  local ceiling = ps
  if ceiling <= 0 then ceiling = math.huge end
  local costly = upcoming * rate / 1000000 > COSTLY_PAUSE
  local decrease = tonumber(ARGV[7])
  local old_est = num(s[15], math.huge)
  local rsm, rpz = tonumber(s[13]), tonumber(s[14])
  local est, new
  local recount = nil  -- the fields of a recount while the pause lasts (RateModel.ramp/refill)
  if num(s[4], 1) == 1 then
    -- Slow start ends: the limit lies below half the rate reached; a costly 429 reads
    -- what the service accepted while callers were held back, if they were.
    local top = rate / 2
    est, new = top, top
    if costly and now - num(s[12], 0) <= 1000000 then
      est = math.min(top, ramp_peak(num(s[16], now), sent))
      new = MARGIN * est
      recount = {'rsa', ARGV[2], 'rtop', tostring(top)}
    elseif costly then
      new = top * decrease ^ 3
    end
  elseif costly and rsm and rsm <= now and now <= rsm + rpz then
    -- Within one pause of the last: the service refilled during it and was drained again.
    est = math.min(math.max(rate, old_est), refill_rate(okt, sent, rsm, rpz))
    new = MARGIN * est
    recount = {'rsa', ARGV[2], 'rfr', us(rsm), 'rfp', us(rpz)}
  else
    local resumed = math.huge
    if costly and rsm and now > rsm then resumed = resumed_rate(rsm, sent) end
    if resumed < math.huge then
      est = math.min(rate, resumed)
      new = MARGIN * est
    else
      -- The successes reported since the last decrease, its pauses left out.
      local accepted = math.huge
      local elapsed = (now - num(s[5], now) - (paused - upcoming)) / 1000000
      local n = okt - num(s[10], 0)
      if elapsed >= MIN_SPAN and n > 0 then accepted = n / elapsed end
      est = math.min(rate, accepted)
      if costly then new = est * decrease ^ 3 else new = est * decrease end
    end
  end
  rate = math.max(tonumber(ARGV[6]), math.min(ceiling, new))
  redis.call('HDEL', key, 'rsa', 'rtop', 'rfr', 'rfp')
  if recount then for _, f in ipairs(recount) do table.insert(fields, f) end end
  if upcoming > 0 then  -- when sending resumes, and how long it paused
    for _, f in ipairs({'rsm', us(cd), 'rpz', us(upcoming)}) do table.insert(fields, f) end
  end
  for _, f in ipairs({'rate', tostring(rate), 'rad', tostring(rate), 'est', tostring(est),
      'ss', 0, 'dec', us(now), 'pz', us(upcoming), 'okd', okt, 'price', us(upcoming)}) do
    table.insert(fields, f)
  end
end
local tat = num(s[1], 0)
if cd > now and tat < cd then table.insert(fields, 'tat'); table.insert(fields, us(cd)) end
if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
redis.call('PEXPIRE', key, ARGV[8])
return tostring(rate)
"""
)

# What rate-limit headers said: pace at most at ARGV[1]/s for ARGV[2] µs; with ARGV[3] > 0 the
# quota is spent: hold everyone that many µs (not a 429: the rate is not lowered).
# ARGV[4]: idle expiry in ms.
QUOTA: Final = (
    _PRELUDE
    + """
local fields = {'qr', ARGV[1], 'qu', us(now + tonumber(ARGV[2]))}
local hold = tonumber(ARGV[3])
if hold > 0 then
  local cd = num(redis.call('HGET', key, 'cd'), 0)
  if now + hold > cd then table.insert(fields, 'cd'); table.insert(fields, us(now + hold)) end
end
redis.call('HSET', key, unpack(fields))
redis.call('PEXPIRE', key, ARGV[4])
return 0
"""
)

# A client that paced itself alone while Redis was away comes back. Until every client that
# fell back has had time to come back (ARGV[1] µs), the shared rate is cut to the share of
# those back (the others still pace themselves, each at its share). ARGV[2]: the rate the
# client last knew (restores a learnt rate lost with a restarted Redis; 0: none);
# ARGV[3]: idle expiry in ms.
REJOIN: Final = (
    _PRELUDE
    + """
local s = redis.call('HMGET', key, 'gu', 'rj', 'rate')
local joined = 1
if num(s[1], 0) > now then joined = num(s[2], 0) + 1 end
local fields = {'gu', us(now + tonumber(ARGV[1])), 'rj', joined}
if not s[3] and tonumber(ARGV[2]) > 0 then
  for _, f in ipairs({'rate', ARGV[2], 'rad', ARGV[2], 'ss', 0}) do table.insert(fields, f) end
end
redis.call('HSET', key, unpack(fields))
redis.call('PEXPIRE', key, ARGV[3])
return joined
"""
)

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
           ``okd`` and ``oko`` its value at the last decrease and at ``org``
``k<n>``   successes by when their request was sent (each acquire carries those times):
           ``k<id % 512>`` = ``"<id>,<count>"`` for the 10 ms bucket ``id`` = µs // 10000
``rte``    when the 429 that ended slow start came (while its pause lasts, replies reported
           raise the estimate); ``rsa`` when its request was sent, the end of the spans
           that say what the service accepted; ``rtop`` the most those replies may raise
           it to: half the rate reached, and 3 % over the estimate at the 429
``rsm``    when sending resumed after the last pause, ``rpz`` how long it was
``pz``     µs paused since the last decrease
``org``    when a caller was first held back; ``ptot`` µs paused in all; ``price`` the pause
           the last 429 cost (what a failed probe costs)
``t429``   ``1`` once a told limit saw a 429: no burst any more, 3 % under the told rate
``qr``     the rate that rate-limit headers allow, until ``qu``
``bulk``   the turn given last to a bulk call
``gu``     until when the fleet re-forms after a Redis outage; ``rj`` how many clients re-joined
=========  ==================================================================================

The constants mirror the local limiter's (see ``_ratelimit.py``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACQUIRE", "QUOTA", "REJOIN", "THROTTLE"]

# Shared by the scripts: read the state, and the rate a told or learnt limit allows now.
_PRELUDE: Final = """
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function num(v, d) if v then return tonumber(v) else return d end end
-- The share of the rate read from slow start's ramp that a fleet resumes at: its processes'
-- sends reach the service a few ms off the turns they were counted by, which reads a few per
-- cent either way, and reading over costs another whole pause.
local RAMP_MARGIN = 0.97
-- How far the replies reported during that pause may raise the estimate: a request counted
-- by its turn just before the 429's may reach the service just after it, on a token refilled
-- meanwhile, so the fleet's late replies read up to 13 % over.
local RECOUNT_CAP = 1.03
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
    local r = n / (math.max(sent - id * 10000 - 5000, 0) / 1000000 + 0.1)
    if r > best then best = r end
  end
  local whole = (sent - since) / 1000000
  if whole >= 0.25 and n / whole > best then best = n / whole end
  if best > 0 then return best end
  return math.huge
end
-- The limit after a costly 429 (its request sent at sent) soon after the last pause's end
-- (at rsm, of rpz µs), as _estimate.refill_rate: a token bucket fitted to it and the 429
-- that ended slow start (org to rsa), drained both times from full; or, when none
-- fits or a window explains them as well, the chunk accepted since the pause per pause length
-- (or the rate accepted since demand began, pauses included, if the chunk is under 80 % of it).
local function refill_rate(okt, sent)
  local v = redis.call('HMGET', key, 'rsm', 'rpz', 'rsa', 'org', 'oko')
  local resumed, pause = tonumber(v[1]), tonumber(v[2]) / 1000000
  local got, lo, hi = turns(tonumber(v[4]) or resumed, sent)
  local refill = count(got, math.floor(resumed / 10000), hi)
  local windowed = refill / pause
  if v[4] then
    local overall = (okt - tonumber(v[5])) / math.max((now - tonumber(v[4])) / 1000000, pause)
    if windowed < 0.8 * overall then windowed = overall end
  end
  local span = (sent - resumed) / 1000000
  if not v[3] or not v[4] or span <= 0 or refill < 2 then return windowed end
  local ramp_end = tonumber(v[3])
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
  'rte', 'rtop', 'rsa')
local cd = num(s[2], 0)
local okt = num(s[21], 0)
if ARGV[12] ~= '0' then
  okt = tonumber(redis.call('HINCRBY', key, 'okt', ARGV[12]))
  local add, ids = {}, {}
  for i = 13, #ARGV do
    local id = math.floor(tonumber(ARGV[i]) / 10000)
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
  if s[22] and s[22] == s[7] and now < cd then
    -- Replies overtaken by the 429 that ended slow start, reported during its pause: they
    -- count towards what the service accepted, and can only raise the estimate.
    local est = math.min(tonumber(s[23]), ramp_peak(num(s[10], 0), tonumber(s[24])))
    if est > num(s[5], 0) then
      local paced = RAMP_MARGIN * est
      redis.call('HSET', key, 'rate', tostring(paced), 'rad', tostring(paced), 'est', tostring(est))
      s[3], s[4], s[5] = tostring(paced), tostring(paced), tostring(est)
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
local ps = tonumber(ARGV[4])
local adaptive = ARGV[5] == '1'
local growth = {}
local ceiling = ps
if ceiling <= 0 then ceiling = math.huge end
local rate
local burst = tonumber(ARGV[6])
local t429 = num(s[13], 0)
local held = num(s[9], 0)
if adaptive then
  rate = num(s[3], math.min(tonumber(ARGV[7]), ceiling))
  -- Grow while callers are held back, by each turn given, as the local limiter does by
  -- each success: slow start doubles the rate every 0.05 s of sending at it, and never
  -- faster (many callers reserving at once are not many successes).
  if rate < ceiling and now - held < 1000000 then
    if num(s[6], 1) == 1 then
      local base, since = num(s[19], rate), num(s[20], now)
      if now - since >= 50000 then base, since = rate, now end
      rate = math.min(rate + 13.862943611198906, 2 * base)
      growth = {'ssb', tostring(base), 'sst', us(since)}
    else
      local rad = num(s[4], rate)
      local est = num(s[5], math.huge)
      local step = tonumber(ARGV[9]) * rad / rate
      local near = rate >= 0.97 * est
      local price = num(s[12], 0)
      local costly = price * rate / 1000000 > 20
      local org = num(s[10], now)
      local may = num(s[11], 0) + price <= 0.03 * (now - org)
      if (near or costly) and not may then step = 0 end
      if near then step = step * 0.1 end
      rate = rate + step
    end
    rate = math.max(math.min(rate, ceiling), tonumber(ARGV[8]))
  end
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
if adaptive then
  table.insert(fields, 'rate'); table.insert(fields, tostring(rate))
end
if send - now >= interval then  -- queued behind others, not just arriving together
  table.insert(fields, 'held'); table.insert(fields, us(now))
  if not s[10] then
    for _, f in ipairs({'org', us(now), 'oko', okt}) do table.insert(fields, f) end
  end
end
if bulk then table.insert(fields, 'bulk'); table.insert(fields, string.format('%.3f', send)) end
for _, f in ipairs(growth) do table.insert(fields, f) end
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
  'org', 'okd', 'oko', 'held', 'rsm', 'rpz')
local wait = tonumber(ARGV[1])
local cd = num(s[2], 0)
local upcoming = 0
local fields = {}
if wait > 0 then
  local ends = now + wait
  if ends > cd then
    upcoming = ends - math.max(cd, now)
    cd = ends
    table.insert(fields, 'cd'); table.insert(fields, us(cd))
    table.insert(fields, 'pz'); table.insert(fields, us(num(s[7], 0) + upcoming))
    table.insert(fields, 'ptot'); table.insert(fields, us(num(s[8], 0) + upcoming))
  end
end
local okt = num(s[6], 0)
if not s[9] then
  for _, f in ipairs({'org', us(now), 'oko', okt}) do table.insert(fields, f) end
end
local ps = tonumber(ARGV[3])
local rate = num(s[3], tonumber(ARGV[5]))
if ARGV[4] ~= '1' then
  table.insert(fields, 't429'); table.insert(fields, 1)
  rate = told_rate(ps, 1)
elseif tonumber(ARGV[2]) >= num(s[5], 0) then
  -- The successes reported, over a span of sending (pauses left out); inf if too short.
  local function accepted(count, since, paused)
    local elapsed = (now - since - paused) / 1000000
    if elapsed >= 0.25 and count > 0 then return count / elapsed end
    return math.huge
  end
  local costly = upcoming * rate / 1000000 > 20
  local factor = tonumber(ARGV[7])
  local est
  local recount = false  -- or the cap of the estimate while it grows (rtop)
  if num(s[4], 1) == 1 then
    -- Slow start ends: the limit lies below the rate reached. A costly 429 cannot tell the
    -- service's rate from its burst: resume at what it accepted while callers waited, if
    -- they still do (and raise it with the replies still coming), else well under half the
    -- rate reached.
    est = rate / 2
    factor = 1
    if costly and now - num(s[12], 0) < 1000000 then
      recount = est
      est = math.min(est, ramp_peak(num(s[9], now), tonumber(ARGV[2])))
      recount = math.min(recount, RECOUNT_CAP * est)
      factor = RAMP_MARGIN
    elseif costly then
      factor = factor ^ 3
    end
  elseif costly and s[13] and now <= tonumber(s[13]) + tonumber(s[14]) then
    -- Within one pause of the last: the service refilled during it and was drained again.
    est = math.min(rate, refill_rate(okt, tonumber(ARGV[2])))
    factor = 0.97
  else
    est = math.min(rate, accepted(okt - num(s[10], 0), num(s[5], now), num(s[7], 0)))
    if costly then factor = factor ^ 3 end
  end
  rate = math.max(tonumber(ARGV[6]), factor * est)
  if recount then
    for _, f in ipairs({'rte', us(now), 'rsa', ARGV[2], 'rtop', tostring(recount)}) do
      table.insert(fields, f)
    end
  end
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

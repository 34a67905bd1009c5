-- The shared state: one hash of named fields, the log of successes and the log of turns given,
-- the clock, and the settings every script is called with.
--
-- KEYS[1] the hash; KEYS[2] the successes, by when their request was sent (a sorted set whose
-- scores are the send times); KEYS[3] the turns given since rate-limit headers were first
-- seen (scores: when each request was to go).
-- ARGV[1] the time in seconds ('': Redis's own clock); ARGV[2] to ARGV[11] the settings
-- (CFG below); ARGV[12] on: the script's own arguments.
local STATE, LOG, GRANTS = KEYS[1], KEYS[2], KEYS[3]
local INF = math.huge
local ARGS = 12

local function clock()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local now = clock()  -- until the state is read: then as the schedule's clock (below)

local CFG = {
  per_second = tonumber(ARGV[2]),  -- 0: not told
  adaptive = ARGV[3] == '1',
  burst = tonumber(ARGV[4]),
  initial = tonumber(ARGV[5]),
  floor = tonumber(ARGV[6]),
  increase = tonumber(ARGV[7]),
  decrease = tonumber(ARGV[8]),
  max_cooldown = tonumber(ARGV[9]),
  clients = tonumber(ARGV[10]),
  idle_ms = ARGV[11],
}
CFG.ceiling = INF
if CFG.per_second > 0 then CFG.ceiling = CFG.per_second end
local START = math.min(CFG.initial, CFG.ceiling)

-- Every field, in the order it is read; absent from the hash, a field has its default (none
-- for the optional ones).
local FIELDS = {
  -- the schedule (LocalLimiter's, shared), and its clock
  'next', 'cooldown_until', 'held_back_at', 'demand_since', 'last_bulk', 'told_throttled',
  'regroup_until', 'rejoined', 'seq', 'clock_offset', 'clock_last',
  -- the adaptive rate (RateModel's attributes, by the same names)
  'rate', 'slow_start', 'estimate', 'rate_at_decrease', 'last_decrease', 'paused',
  'paused_total', 'origin', 'resumed_at', 'resume_pause', 'probe_price', 'step_base',
  'step_since', 'ramp_since', 'ramp_sent', 'ramp_top', 'recount_until', 'recount_end',
  'refill_resumed', 'refill_pause', 'refill_since',
  -- what rate-limit headers said (Quota's attributes, and the pace they allow)
  'quota_budget', 'quota_reset_at', 'quota_hold_until', 'quota_window', 'quota_sustained',
  'quota_rate',
}
local DEFAULT = {
  next = -INF, cooldown_until = -INF, held_back_at = -INF, demand_since = -INF,
  last_bulk = -INF, told_throttled = 0, regroup_until = -INF, rejoined = 0, seq = 0,
  clock_offset = 0, clock_last = -INF,
  rate = START, slow_start = 1, estimate = INF, rate_at_decrease = START, last_decrease = -INF,
  paused = 0, paused_total = 0, resumed_at = INF, resume_pause = 1, probe_price = 0,
  step_base = START, step_since = -INF, recount_until = -INF, recount_end = -INF,
  quota_budget = INF, quota_reset_at = -INF, quota_hold_until = -INF, quota_window = INF,
  quota_sustained = 0, quota_rate = INF,
}

local RAW = redis.call('HMGET', STATE, unpack(FIELDS))
local S, STORED = {}, {}
for i, name in ipairs(FIELDS) do
  STORED[name] = RAW[i] ~= false
  local value = tonumber(RAW[i])
  if value == nil then value = DEFAULT[name] end
  S[name] = value
end

-- Redis's clock can step back (an NTP step, a restored VM, a failover to a server whose clock
-- is behind); the schedule's never does: a step back is added to an offset, and time stands
-- still for a moment instead of every stored time lying ahead.
now = now + S.clock_offset
if now < S.clock_last then
  S.clock_offset = S.clock_offset + (S.clock_last - now)
  now = S.clock_last
end
S.clock_last = now

-- Numbers are written so that they read back as the same double.
local function fmt(value) return string.format('%.17g', value) end

-- Write what changed; a field never stored and still at its default stays unwritten.
local function save()
  local set, drop = {}, {}
  for i, name in ipairs(FIELDS) do
    local value, stored = S[name], RAW[i] or nil
    local text = nil
    if value ~= nil and (stored ~= nil or value ~= DEFAULT[name]) then text = fmt(value) end
    if text ~= stored then
      if text == nil then drop[#drop + 1] = name
      else set[#set + 1] = name; set[#set + 1] = text end
    end
  end
  if #set > 0 then redis.call('HSET', STATE, unpack(set)) end
  if #drop > 0 then redis.call('HDEL', STATE, unpack(drop)) end
  for _, key in ipairs({STATE, LOG, GRANTS}) do redis.call('PEXPIRE', key, CFG.idle_ms) end
end

-- A score for ZCOUNT and ZRANGEBYSCORE; with exclusive, the bound itself left out.
local function score(value, exclusive)
  local text
  if value == INF then text = '+inf' elseif value == -INF then text = '-inf' else text = fmt(value) end
  if exclusive then return '(' .. text end
  return text
end

-- The successes, by when their request was sent (RateModel.successes), and the estimates of
-- a service's limit read from them: line for line the functions of _estimate.py, on the
-- sorted set instead of a sorted list.

-- RateModel._log: keep a send time; a full log drops its oldest.
local function log_add(ticket)
  S.seq = S.seq + 1
  redis.call('ZADD', LOG, fmt(ticket), S.seq)
  if redis.call('ZCARD', LOG) > LOG_SIZE then redis.call('ZREMRANGEBYRANK', LOG, 0, 0) end
end

local function log_range(lo, hi)
  local found = redis.call('ZRANGEBYSCORE', LOG, score(lo), score(hi), 'WITHSCORES')
  local times = {}
  for i = 2, #found, 2 do times[#times + 1] = tonumber(found[i]) end
  return times
end

local function count_between(lo, hi)
  return redis.call('ZCOUNT', LOG, score(lo), score(hi))
end

local function count_from(lo) return count_between(lo, INF) end

local function log_end(rank)
  return tonumber(redis.call('ZRANGE', LOG, rank, rank, 'WITHSCORES')[2])
end

local function ramp_peak(since, sent)
  local times = log_range(since, sent)
  local n = #times
  local span = sent - since
  local best = 0
  if span >= MIN_SPAN then best = n / span end
  for i = 1, n do
    best = math.max(best, (n - i + 1) / (sent - times[i] + ASSUMED_BURST))
  end
  if n > 0 then return best end
  return INF
end

local function bucket_fit(since, sent, resumed, last)
  local times = log_range(since, sent)
  local n = #times
  local refill = count_between(resumed, last)
  local span = last - resumed
  if span <= 0 or refill < 2 then return INF end
  local highest = FIT_SHARE * refill / span
  local best = INF
  for i = 1, n do
    local drained, count = sent - times[i], n - i + 1
    if drained < span then
      local rate = (refill - count) / (span - drained)
      if 0 < rate and rate < highest and count - rate * drained > 1
          and refill - rate * span > 1 then
        best = math.min(best, rate)
      end
    end
  end
  return best
end

-- ramp_since and ramp_sent are nil when slow start did not end on a costly 429.
local function refill_rate(ramp_since, ramp_sent, resumed, last, pause, since, now)
  local refill = count_from(resumed)
  local chunk = refill / pause
  local overall = count_from(since) / math.max(now - since, pause)
  local windowed = overall
  if chunk >= CHUNK_SHARE * overall then windowed = chunk end
  if ramp_since == nil then return windowed end
  local fitted = bucket_fit(ramp_since, ramp_sent, resumed, last)
  if fitted == INF then return windowed end
  local ramp_got = count_between(math.max(ramp_since, ramp_sent - pause), ramp_sent)
  if ramp_got >= WINDOW_SHARE * refill then return math.max(fitted, windowed) end
  return fitted
end

local function accepted_rate(since, paused)
  local size = redis.call('ZCARD', LOG)
  if size == 0 then return INF end
  local first = redis.call('ZCOUNT', LOG, '-inf', score(since, true))
  local start = since
  if size == LOG_SIZE and first == 0 then start = math.max(since, log_end(0)) end
  local elapsed = log_end(-1) - start - paused
  local count = size - first
  if elapsed >= MIN_SPAN and count > 0 then return count / elapsed end
  return INF
end

local function resumed_rate(resumed, last)
  local span = last - resumed
  local count = count_between(resumed, last)
  if span < MIN_SPAN or count < 2 then return INF end
  return count * (1 - ASSUMED_BURST / span) / span
end

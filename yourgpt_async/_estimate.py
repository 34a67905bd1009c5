"""Where a service's limit lies, from the successes it gave before a 429: pure arithmetic.

The adaptive limiter keeps the tickets (send times) of recent successes in order. When a 429
whose pause is costly ends slow start, or follows a pause too soon, these functions read that
log to say what rate the service takes. They model the service as a token bucket of rate ``R``
and burst ``B``: a bucket that was full at time ``s`` and is empty at ``t`` accepted
``B + R * (t - s)`` requests in between. A window that hands out a quota per period looks, to
a client that spends it quickly, like a bucket whose burst is the whole quota.

No I/O and no clock: the limiter passes the log and the times, and the tests call these
directly.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence

__all__ = [
    "ASSUMED_BURST",
    "CHUNK_SHARE",
    "FIT_SHARE",
    "MIN_SPAN",
    "WINDOW_SHARE",
    "RateModel",
    "accepted_rate",
    "bucket_fit",
    "count_between",
    "ramp_peak",
    "refill_rate",
    "resumed_rate",
]

ASSUMED_BURST = 0.1
"""Seconds of its rate a service is taken to let through at once, when one 429 is all there
is to go by: it cannot tell a bucket's rate from its burst."""

MIN_SPAN = 0.25
"""Seconds a span must last for its success count alone to say what rate was accepted."""

CHUNK_SHARE = 0.8
"""A chunk after a pause under this share of the rate accepted since demand began (pauses
included) shows a bucket refilling faster than the pause, not a window."""

FIT_SHARE = 0.9
"""A bucket fitted to two 429s must have a rate under this share of the rate the second
chunk was sent at: closer, the fit is noise."""

WINDOW_SHARE = 0.9
"""A window gives its quota in every window: if slow start's last pause-length got less than
this share of the refill after the pause, no window explains both 429s."""


def count_between(log: Sequence[float], start: float, end: float) -> int:
    """How many successes in ``log`` were sent from ``start`` to ``end``, both included."""
    return bisect.bisect_right(log, end) - bisect.bisect_left(log, start)


def ramp_peak(log: Sequence[float], since: float, end: float) -> float:
    """The rate a service accepted while slow start ramped up, from ``since`` until the 429
    sent at ``end``; ``inf`` if nothing was accepted in that span.

    The bucket began to drain when the ramp crossed its rate, at a time the client cannot
    see: every later span ``[s, end]`` accepted at most ``B + R * (end - s)``, and the one
    from that moment exactly that, while earlier spans lost the refill of a full bucket.
    With ``B`` taken as :data:`ASSUMED_BURST` seconds of ``R``, the largest
    ``count / (end - s + ASSUMED_BURST)`` is the estimate; or the rate of the whole span,
    if higher (a smaller burst than assumed).
    """
    first = bisect.bisect_left(log, since)
    last = bisect.bisect_right(log, end)
    # A burst under the assumed one makes those spans read low: the rate the whole ramp
    # was accepted at (if long enough to say) is then the better figure.
    span = end - since
    best = (last - first) / span if span >= MIN_SPAN else 0.0
    for index in range(first, last):
        best = max(best, (last - index) / (end - log[index] + ASSUMED_BURST))
    return best if last > first else math.inf


def bucket_fit(
    log: Sequence[float], ramp: tuple[float, float], resumed: float, end: float
) -> float:
    """The bucket rate that explains both the 429 that ended slow start and one that came
    soon after the pause; ``inf`` if no bucket does.

    ``ramp`` is the span of slow start, ``(since, sent)`` with ``sent`` the ticket of its
    429; ``resumed`` is when the pause ended and ``end`` the ticket of the second 429. The
    pause refilled the bucket, which then gave ``n2`` in ``d2``; from some moment ``s`` of
    the ramp it gave ``n(s)`` in ``d(s)``. Both drained the same full bucket, so
    ``n2 - n(s) = R * (d2 - d(s))`` at that moment, and the ratio is higher at every other:
    the smallest ratio is ``R``, with no guess at the burst. A ratio counts only if the burst
    it implies (``n - R * d``) is more than one request both times, and if it is under
    :data:`FIT_SHARE` of the rate the refill was sent at (the bucket drained then).
    """
    since, sent = ramp
    first = bisect.bisect_left(log, since)
    last = bisect.bisect_right(log, sent)
    refill = count_between(log, resumed, end)
    span = end - resumed
    if span <= 0 or refill < 2:
        return math.inf
    highest = FIT_SHARE * refill / span
    best = math.inf
    for index in range(first, last):
        drained, count = sent - log[index], last - index
        if drained < span:
            rate = (refill - count) / (span - drained)
            if 0 < rate < highest and count - rate * drained > 1 and refill - rate * span > 1:
                best = min(best, rate)
    return best


def refill_rate(
    log: Sequence[float],
    *,
    ramp: tuple[float, float] | None,
    resumed: float,
    end: float,
    pause: float,
    since: float,
    now: float,
) -> float:
    """The limit, from what a service accepted between the end of a ``pause`` (at
    ``resumed``) and the 429 sent at ``end``, soon after.

    A window gives its whole quota after the pause, so the rate is the chunk per pause; a
    bucket that refills faster than the pause gives less, and then the rate it accepted
    since demand began at ``since``, pauses included, is closer. If slow start ended on a
    costly 429 (its span is ``ramp``), a bucket fitted to both 429s (:func:`bucket_fit`)
    may explain them better.
    """
    refill = len(log) - bisect.bisect_left(log, resumed)
    chunk = refill / pause
    overall = (len(log) - bisect.bisect_left(log, since)) / max(now - since, pause)
    windowed = chunk if chunk >= CHUNK_SHARE * overall else overall
    if ramp is None:
        return windowed
    fitted = bucket_fit(log, ramp, resumed, end)
    if fitted == math.inf:
        return windowed
    # A window gives its quota in every window, so slow start's last ``pause`` seconds got at
    # least the refill too; if not, only the bucket explains both 429s. If both do, the
    # higher rate: too high costs one more pause, too low slows the whole run.
    ramp_got = count_between(log, max(ramp[0], ramp[1] - pause), ramp[1])
    return max(fitted, windowed) if ramp_got >= WINDOW_SHARE * refill else fitted


def accepted_rate(log: Sequence[float], since: float, paused: float) -> float:
    """The rate a service accepted from ``since`` to the latest success in ``log``, ``paused``
    seconds left out; ``inf`` if the span is too short to say.

    A full log (a deque at its length) may no longer reach back to ``since``: it then counts
    from its oldest success.
    """
    if not log:
        return math.inf
    first = bisect.bisect_left(log, since)
    full = isinstance(log, deque) and len(log) == log.maxlen
    start = max(since, log[0]) if full and not first else since
    elapsed = log[-1] - start - paused
    count = len(log) - first
    return count / elapsed if elapsed >= MIN_SPAN and count else math.inf


# -- the model ---------------------------------------------------------------------------------

SLOW_START_GAIN = math.log(2) / 0.05
"""Slow start adds this much rate (requests/s) per success: at rate ``r`` that is ``r / 20``
successes per 0.05 s, each adding ``ln 2 / 0.05``: the rate doubles every 0.05 s ..."""
SLOW_START_STEP = 0.05
"""... and never faster: within each such step it at most doubles, however many replies come
at once (a fleet reports its successes in batches)."""
PLATEAU = 0.97
"""Within this share of the last known limit the additive increase creeps: each probe past the
limit costs a 429 and its pause."""
PROBE_SLOWDOWN = 0.1
COSTLY_PAUSE = 20.0
"""A 429 whose pause is worth more than this many requests at the current rate is costly: it
stalls every call as long."""
PAUSE_BUDGET = 0.03
"""Probing past the last known limit (or climbing at all after a costly 429) is allowed only
while the pauses so far, with the one a failed probe would add, stay under this share of the
time since callers were first held back: at a one-second pause, one probe per half minute."""
MARGIN = 0.97
"""After a costly 429 the rate goes this much under the limit read from what was accepted."""


class RateModel:
    """The adaptive rate: where a service's unknown limit lies, from its successes and 429s.

    Pure: no clock, no I/O; every method takes the time it happens at. The in-process limiter
    (:class:`~._ratelimit.LocalLimiter`) keeps its schedule at :attr:`rate`; the shared one
    runs the same rules, transcribed in Lua (``_redis_lua``), in Redis.

    The rules:

    - **Slow start**: while demand holds callers back, each success adds
      :data:`SLOW_START_GAIN` (the rate doubles every 0.05 s, never faster).
    - **The first 429** ends it. Cheap (its pause is worth under :data:`COSTLY_PAUSE`
      requests), the rate halves: all that was sent was accepted, so the limit lies below the
      rate reached. Costly, the rate becomes :data:`MARGIN` under what the service accepted
      while callers were held back (:func:`ramp_peak`), never above half the rate reached;
      replies to requests sent before it, still coming during its pause, raise it.
    - **A later 429** (for a request sent after the last decrease). Cheap: ``decrease`` times
      the rate accepted since the last decrease, pauses left out. Costly within one pause of
      the end of the last: a bucket fitted to both 429s or a window's chunk per pause
      (:func:`refill_rate`). Costly later: the service's bucket was full when sending resumed
      and is empty now, so it accepted its burst plus its rate over the span
      (:func:`resumed_rate`). Either way :data:`MARGIN` under it.
    - **Probing**: after the first 429, while callers are held back, each success adds
      ``increase`` times the rate set at the last decrease per second of sending, a tenth of
      that within :data:`PLATEAU` of the limit, and only within the :data:`PAUSE_BUDGET` when
      near the limit or after a costly 429.

    Args:
        initial: The rate to start at.
        ceiling: The rate never goes above it (``inf``: none).
        floor: ... nor below this.
        increase: The share of the rate set at the last decrease added back per second.
        decrease: The share of the accepted rate kept after a cheap 429.
        log_size: Successes remembered to count what the service accepted.
    """

    def __init__(
        self,
        *,
        initial: float,
        ceiling: float = math.inf,
        floor: float = 0.5,
        increase: float = 0.1,
        decrease: float = 0.9,
        log_size: int = 4096,
    ) -> None:
        self.ceiling = ceiling
        self.floor = floor
        self.increase = increase
        self.decrease = decrease
        self.rate = min(initial, ceiling)
        """The rate to pace at, requests per second."""
        self.slow_start = True
        self.estimate = math.inf
        """Where the service's limit seems to be."""
        self.rate_at_decrease = self.rate
        self.last_decrease = -math.inf
        self.paused = 0.0  # pause seconds since the last decrease
        self.paused_total = 0.0  # ... and in all
        self.origin = math.nan  # when callers were first held back (or a 429 came)
        self.resumed_at = math.inf  # when the pause of the last decrease ended
        self.resume_pause = 1.0  # how long it was
        self.probe_price = 0.0  # the pause the last 429 cost: what a failed probe costs
        self.step_base = self.rate  # slow start: the rate at the start of this step ...
        self.step_since = -math.inf  # ... and when it began
        self.successes: deque[float] = deque(maxlen=log_size)
        # Slow start's span to the ticket of the costly 429 that ended it, and half the rate
        # it reached (the limit lies below).
        self.ramp: tuple[float, float, float] | None = None
        # While a costly 429's pause lasts (until ``recount_end``), replies to requests sent
        # before it (up to ``recount_until``) still come, and each recounts what was accepted.
        self.recount_until = -math.inf
        self.recount_end = -math.inf
        # ... and the pause before it (resumed, length), if it came soon after one.
        self.refill: tuple[float, float, float] | None = None  # ... and since when demand ran

    def held_back(self, now: float) -> None:
        """A caller is held back by the rate for the first time: probing's clock starts."""
        if self.origin != self.origin:
            self.origin = now

    def may_probe(self, now: float) -> bool:
        """Whether a 429 now would keep the time lost to pauses within the budget."""
        return self.paused_total + self.probe_price <= PAUSE_BUDGET * (now - self.origin)

    def on_success(self, ticket: float, now: float, *, demand: bool) -> None:
        """Count a success for the request sent at ``ticket``; grow while ``demand`` (callers
        held back by the rate) says more rate would be used."""
        self.successes.append(ticket)
        if ticket <= self.recount_until:
            self._recount(now)
            return
        if demand and self.rate < self.ceiling:
            self.grow(now, 1)

    def grow(self, now: float, successes: int) -> None:
        """Raise the rate for ``successes`` accepted while callers were held back."""
        rate = self.rate
        if self.slow_start:
            if now - self.step_since >= SLOW_START_STEP:
                self.step_base, self.step_since = rate, now
            rate = min(rate + SLOW_START_GAIN * successes, 2 * self.step_base)
        else:
            near = rate >= PLATEAU * self.estimate
            costly = self.probe_price * rate > COSTLY_PAUSE
            if (near or costly) and not self.may_probe(now):
                return  # a failed probe would cost more time than the budget allows
            step = self.increase * self.rate_at_decrease / rate * successes
            rate += step * PROBE_SLOWDOWN if near else step
        self.rate = max(self.floor, min(rate, self.ceiling))

    def on_throttled(
        self, ticket: float, now: float, *, pause: float, demand: bool, demand_since: float
    ) -> None:
        """Lower the rate for a 429 to the request sent at ``ticket``, which pauses every call
        for ``pause`` more seconds (0: none); ``demand`` says whether callers are held back,
        and since when (``demand_since``)."""
        self.held_back(now)
        self.paused += pause
        self.paused_total += pause
        if ticket < self.last_decrease:
            return  # sent before the last decrease: says nothing new
        self.probe_price = pause
        self.rate = self.rate_at_decrease = max(
            self.floor, min(self.ceiling, self._decreased(ticket, now, pause, demand, demand_since))
        )
        self.slow_start = False
        self.last_decrease = now
        self.paused = pause
        if pause > 0:
            self.recount_end = self.resumed_at = now + pause
            self.resume_pause = pause

    def _decreased(
        self, ticket: float, now: float, pause: float, demand: bool, demand_since: float
    ) -> float:
        """The rate after a 429 for a request sent since the last decrease."""
        costly = pause * self.rate > COSTLY_PAUSE
        log = self.successes
        if self.slow_start:
            top = self.rate / 2
            self.estimate = top
            if not costly:
                return top
            if not demand:  # what was accepted is only what was asked for
                return top * self.decrease**3
            self.ramp = (demand_since, ticket, top)
            self.recount_until, self.refill = ticket, None
            self.estimate = min(top, ramp_peak(log, demand_since, ticket))
            return MARGIN * self.estimate
        if costly and self.resumed_at <= now <= self.resumed_at + self.resume_pause:
            # Within one pause of the last: the service refilled during it, was drained again.
            self.recount_until = ticket
            self.refill = (self.resumed_at, self.resume_pause, demand_since)
            # The rate went a margin under the last estimate: the limit may be up to there.
            self.estimate = min(max(self.rate, self.estimate), self._refill_estimate(now))
            return MARGIN * self.estimate
        if costly and now > self.resumed_at:
            resumed = resumed_rate(log, self.resumed_at, ticket)
            if resumed != math.inf:
                self.estimate = min(self.rate, resumed)
                return MARGIN * self.estimate
        accepted = accepted_rate(log, self.last_decrease, self.paused - pause)
        self.estimate = min(self.rate, accepted)
        # A costly 429 with nothing to read stalls every call: step well under.
        return (self.decrease**3 if costly else self.decrease) * self.estimate

    def _refill_estimate(self, now: float) -> float:
        assert self.refill is not None
        resumed, pause, demand_since = self.refill
        return refill_rate(
            self.successes,
            ramp=None if self.ramp is None else self.ramp[:2],
            resumed=resumed,
            end=self.recount_until,
            pause=pause,
            since=demand_since,
            now=now,
        )

    def _recount(self, now: float) -> None:
        """A success for a request sent before the last costly 429: while its pause lasts,
        count it in what the service accepted (the estimate only grows with it)."""
        if now >= self.recount_end:
            self.recount_until = -math.inf  # sending has resumed at the rate set
            return
        if self.refill is not None:
            estimate = self._refill_estimate(now)
        elif self.ramp is not None:
            since, sent, top = self.ramp
            estimate = min(top, ramp_peak(self.successes, since, sent))
        else:
            return
        if estimate > self.estimate:
            self.estimate = estimate
            self.rate = self.rate_at_decrease = min(MARGIN * estimate, self.ceiling)


def resumed_rate(log: Sequence[float], resumed: float, end: float) -> float:
    """The limit, from what a service accepted between the end of a pause (``resumed``) and
    the 429 sent at ``end``, more than one pause later; ``inf`` if the span is too short.

    The pause refilled a bucket, which then gave its burst and its rate over the span:
    ``n = B + R * d``. With the burst taken as :data:`ASSUMED_BURST` seconds of the rate the
    span was sent at, ``R = (n - B) / d``: the longer the span, the less the guess matters.
    """
    span = end - resumed
    count = count_between(log, resumed, end)
    if span < MIN_SPAN or count < 2:
        return math.inf
    return count * (1 - ASSUMED_BURST / span) / span

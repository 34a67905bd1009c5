"""The adaptive rate: where a service's unknown limit lies, from its successes and 429s.

:class:`RateModel` is pure: no clock, no I/O; every method takes the time it happens at. The
in-process limiter (``_local``) paces at its :attr:`~RateModel.rate`; the fleet runs the same
rules in Redis, transcribed line for line into ``lua/model.lua`` with the same state under the
same names, and ``tests/test_pacing_parity.py`` feeds both the same events.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

from ._estimate import accepted_rate, ramp_peak, refill_rate, resumed_rate
from ._rules import (
    COSTLY_PAUSE,
    LOG_SIZE,
    MARGIN,
    PAUSE_BUDGET,
    PLATEAU,
    PROBE_SLOWDOWN,
    SLOW_START_GAIN,
    SLOW_START_STEP,
)

__all__ = ["RateModel"]


class RateModel:
    """The adaptive rate: where a service's unknown limit lies, from its successes and 429s.

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
    """

    def __init__(
        self,
        *,
        initial: float,
        ceiling: float = math.inf,
        floor: float = 0.5,
        increase: float = 0.1,
        decrease: float = 0.9,
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
        # When the requests of recent successes were sent, in order (the oldest dropped).
        self.successes: deque[float] = deque(maxlen=LOG_SIZE)
        # Slow start's span to the ticket of the costly 429 that ended it, and half the rate
        # it reached (the limit lies below).
        self.ramp: tuple[float, float, float] | None = None
        # While a costly 429's pause lasts (until ``recount_end``), replies to requests sent
        # before it (up to ``recount_until``) still come, and each recounts what was accepted.
        self.recount_until = -math.inf
        self.recount_end = -math.inf
        # ... and the pause before it (resumed, length), if it came soon after one, and since
        # when demand ran.
        self.refill: tuple[float, float, float] | None = None

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
        log = self.successes
        if log and ticket < log[-1]:
            self._insert(ticket)  # a reply that overtook the one before it
        else:
            log.append(ticket)  # the usual case; a full log drops its oldest
        if ticket <= self.recount_until:
            self._recount(now)
            return
        if demand and self.rate < self.ceiling:
            self.grow(now, 1)

    def _insert(self, ticket: float) -> None:
        """Keep ``ticket``, older than the newest, in its place in :attr:`successes`."""
        log = self.successes
        if len(log) == log.maxlen:
            if ticket <= log[0]:
                return  # older than everything kept: it would be the one dropped
            log.popleft()
        log.insert(bisect.bisect_right(log, ticket), ticket)

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
        self,
        ticket: float,
        now: float,
        *,
        pause: float,
        demand: bool,
        demand_since: float,
        given: float | None = None,
    ) -> None:
        """Lower the rate for a 429 to the request sent at ``ticket``, which pauses every call
        for ``pause`` more seconds (0: none); ``demand`` says whether callers are held back,
        and since when (``demand_since``). ``given`` is when its turn was given, if earlier
        than ``ticket`` (a fleet books turns a little ahead)."""
        self.held_back(now)
        self.paused += pause
        self.paused_total += pause
        if (ticket if given is None else given) < self.last_decrease:
            return  # paced before the last decrease: says nothing new
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

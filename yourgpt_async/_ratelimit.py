"""Pacing: a GCRA schedule, a shared 429 cool-down, and a rate that adapts to an unknown limit.

One :class:`Limiter` serves every call of a client. Before each HTTP attempt the client awaits
:meth:`Limiter.acquire`; afterwards it reports :meth:`Limiter.on_success` or
:meth:`Limiter.on_throttled`. The concurrency gate (how many requests are in flight) is the
client's, not the limiter's.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import math

from ._config import Clock, RateLimit, Sleep

__all__ = ["Limiter", "LimiterFactory", "LocalLimiter", "make_limiter"]

# Slow start adds this much rate (requests/s) per success while callers wait for turns: at
# rate r that is r/20 successes per 0.05 s, each adding ln 2 / 0.05 — doubling every 0.05 s.
_SLOW_START_GAIN = math.log(2) / 0.05
_MIN_MEASURE_SECONDS = 0.25  # shortest span whose success count says what the limit is
_ARRIVAL_TOLERANCE = 0.002  # seconds of the adaptive rate that may go at once
# Near the rate of the last 429 the additive increase slows down this much: every probe past
# the limit costs a 429 and its Retry-After pause, so it should come rarely.
_PLATEAU = 0.97
_PROBE_SLOWDOWN = 0.1
_COSTLY_PAUSE = 20.0  # a cool-down longer than this many requests' worth is expensive
_DEMAND_WINDOW = 1.0  # a caller held back this recently still counts as demand for more rate


class Limiter(abc.ABC):
    """Paces the requests of one client (or, for a shared backend, of many)."""

    @abc.abstractmethod
    async def acquire(self) -> float:
        """Wait until a request may be sent; return a ticket to hand back in the report."""

    @abc.abstractmethod
    def on_success(self, ticket: float) -> None:
        """Report that the request sent under ``ticket`` was accepted."""

    @abc.abstractmethod
    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        """Report a 429 (or 503) for the request sent under ``ticket``."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to close by default
        """Release whatever the limiter holds (connections of a shared backend)."""


class LimiterFactory(abc.ABC):
    """A rate-limit configuration that makes its own :class:`Limiter` (a shared backend)."""

    @abc.abstractmethod
    def make_limiter(self) -> Limiter:
        """Make the limiter one client uses."""


class LocalLimiter(Limiter):
    """The in-process limiter: a GCRA schedule, the cool-down and the adaptive rate (AIMD).

    Callers that may not go at once wait in one first-come-first-served queue, released one
    turn at a time (``1 / rate`` apart, up to ``burst`` at once) by a single pump task, so a
    change of rate or a cool-down applies to everyone already waiting.

    Adaptive mode starts at ``initial_per_second``. While the rate holds callers back (one
    waits now, or did in the last second), each success adds to it so that it doubles every
    0.05 s (slow start). The first 429 halves it; each later 429 multiplies it by ``decrease``,
    applied to the lower of the current rate and the rate the service accepted since the
    previous decrease (when that span is long enough to measure). A 429 for a request sent
    before the last decrease says nothing new and is not counted again. After the first 429,
    while callers are held back, each success adds back ``increase`` times the rate set at the
    last decrease per second of sending (a tenth of that within 3 % of the rate the last 429
    came at), up to ``per_second`` when set. A 429 whose pause is worth more than 20 requests
    at the current rate steps down by ``decrease`` cubed, as each such probe stalls every call.
    """

    def __init__(self, config: RateLimit) -> None:
        self._config = config
        self._clock: Clock = config.clock
        self._sleep: Sleep = config.sleep
        self._adaptive = config.is_adaptive
        self._ceiling = config.per_second if config.per_second is not None else math.inf
        if not config.enabled:
            self._rate = math.inf
        elif self._adaptive:
            self._rate = min(config.initial_per_second, self._ceiling)
        else:
            self._rate = self._ceiling
        self._burst = config.burst or 1
        # Found, not told: tolerate callers arriving together (one loop turn apart) as long as
        # they fit in a few milliseconds of the rate, instead of queueing each one.
        self._jitter_tolerance = _ARRIVAL_TOLERANCE if self._adaptive and not config.burst else 0.0
        self._next = -math.inf  # GCRA's theoretical arrival time: the next free turn
        self._cooldown_until = -math.inf
        self._waiters: collections.deque[asyncio.Future[float]] = collections.deque()
        self._pump: asyncio.Task[None] | None = None
        self._pump_sleep: asyncio.Future[None] | None = None
        self._interrupted = False
        # Adaptive state.
        self._slow_start = self._adaptive
        self._rate_at_decrease = self._rate
        self._last_decrease = -math.inf
        self._successes_since_decrease = 0
        self._paused = 0.0  # cool-down seconds since the last decrease
        self._limit_estimate = math.inf  # where the service's limit seems to be
        self._held_back_at = -math.inf  # when a caller last had to wait for a turn
        self.throttled = 0
        """How many 429s this limiter has been told of."""

    @property
    def rate(self) -> float:
        """The rate currently enforced, in requests per second (``inf`` when unpaced)."""
        return self._rate

    @property
    def waiting(self) -> int:
        """How many callers are queued for a turn."""
        return len(self._waiters)

    def _turn(self, now: float) -> float:
        """When the next turn is free (may be in the past)."""
        if math.isinf(self._rate):
            return self._cooldown_until
        backlog = max((self._burst - 1) / self._rate, self._jitter_tolerance)
        return max(self._next - backlog, self._cooldown_until)

    def _take(self, now: float, *, late_ok: bool = False) -> None:
        if not math.isinf(self._rate):
            interval = 1.0 / self._rate
            # The pump may wake a little late (timer slack); such lateness, up to one interval,
            # is caught up rather than pushing the whole schedule back.
            self._next = max(self._next, now - interval if late_ok else now) + interval

    async def acquire(self) -> float:
        """Wait for the cool-down and this caller's turn; return the time it was given.

        A caller cancelled while queued leaves the queue; nobody's turn is lost.
        """
        now = self._clock()
        if not self._waiters and self._turn(now) <= now:
            self._take(now)
            return now
        self._held_back_at = now
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.ensure_future(self._run_pump())
        try:
            return await waiter
        except asyncio.CancelledError:
            if not waiter.done() or waiter.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    async def _run_pump(self) -> None:
        """Hand out turns to the queue, in order, until it is empty."""
        waiters = self._waiters
        while waiters:
            if waiters[0].done():  # cancelled while queued
                waiters.popleft()
                continue
            now = self._clock()
            turn = self._turn(now)
            if turn > now:
                self._pump_sleep = asyncio.ensure_future(self._sleep(turn - now))
                try:
                    await self._pump_sleep
                except asyncio.CancelledError:
                    if not self._interrupted:
                        self._pump_sleep.cancel()
                        raise
                finally:
                    self._pump_sleep = None
                self._interrupted = False
                continue
            self._take(now, late_ok=True)
            waiters.popleft().set_result(now)

    def _wake_pump(self) -> None:
        """The schedule changed: make the pump recompute the next turn at once."""
        sleeping = self._pump_sleep
        if sleeping is not None and not sleeping.done():
            self._interrupted = True
            sleeping.cancel()

    def on_success(self, ticket: float) -> None:
        """Count the success; while the rate holds callers back, let it grow."""
        self._successes_since_decrease += 1
        if not self._adaptive or self._rate >= self._ceiling:
            return
        if not self._waiters and self._clock() - self._held_back_at > _DEMAND_WINDOW:
            return  # the rate is not what holds callers back: no reason to raise it
        if self._slow_start:
            self._rate += _SLOW_START_GAIN
        else:
            step = self._config.increase * self._rate_at_decrease / self._rate
            if self._rate >= _PLATEAU * self._limit_estimate:
                step *= _PROBE_SLOWDOWN  # near where the last 429 came: creep, don't climb
            self._rate += step
        self._rate = min(self._rate, self._ceiling)

    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        """Start the shared cool-down and, in adaptive mode, lower the rate."""
        self.throttled += 1
        now = self._clock()
        upcoming = 0.0  # the pause this 429 adds, which lies ahead of now
        if retry_after is not None and retry_after > 0:
            until = now + retry_after
            if until > self._cooldown_until:
                # Time spent paused is not time the service was asked to accept anything.
                upcoming = until - max(self._cooldown_until, now)
                self._paused += upcoming
                self._cooldown_until = until
            self._next = max(self._next, self._cooldown_until)  # no burst after it
            self._wake_pump()
        if not self._adaptive or ticket < self._last_decrease:
            return
        if self._slow_start:
            new_rate = self._limit_estimate = self._rate / 2
            self._slow_start = False
        else:
            self._limit_estimate = self._rate
            elapsed = now - self._last_decrease - (self._paused - upcoming)
            if elapsed >= _MIN_MEASURE_SECONDS and self._successes_since_decrease:
                # What the service accepted since the last decrease is the best estimate of
                # its limit when it has been saturated; never go above the current rate.
                accepted = self._successes_since_decrease / elapsed
                self._limit_estimate = min(self._rate, accepted)
            factor = self._config.decrease
            if upcoming * self._rate > _COSTLY_PAUSE:
                # A pause worth many requests (a whole-second Retry-After, say): each 429 is
                # expensive, so step down further rather than probe again soon.
                factor *= factor * factor
            new_rate = factor * self._limit_estimate
        self._rate = self._rate_at_decrease = max(self._config.min_per_second, new_rate)
        self._last_decrease = now
        self._successes_since_decrease = 0
        self._paused = upcoming
        self._wake_pump()

    async def aclose(self) -> None:
        """Stop the pump; callers still queued are cancelled."""
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        while self._waiters:
            self._waiters.popleft().cancel()


def make_limiter(rate_limit: RateLimit | LimiterFactory) -> Limiter:
    """Make the limiter for a client from its ``rate_limit`` argument."""
    if isinstance(rate_limit, LimiterFactory):
        return rate_limit.make_limiter()
    return LocalLimiter(rate_limit)

"""Pacing: a token bucket, a shared 429 cool-down, and a rate that adapts to an unknown limit.

One :class:`Limiter` serves every call of a client. Before each HTTP attempt the client awaits
:meth:`Limiter.acquire`; afterwards it reports :meth:`Limiter.on_success` or
:meth:`Limiter.on_throttled`. The concurrency gate (how many requests are in flight) is the
client's, not the limiter's.
"""

from __future__ import annotations

import abc
import math

from ._config import Clock, RateLimit, Sleep

__all__ = ["Limiter", "LimiterFactory", "LocalLimiter", "make_limiter"]

_SLOW_START_DOUBLING = 0.1  # seconds per doubling of the adaptive rate before the first 429
_WINDOW_BINS = 10  # the success-rate window: this many bins...
_BIN_SECONDS = 0.1  # ...of this length (one second in all)


class Limiter(abc.ABC):
    """Paces the requests of one client (or, for a shared backend, of many)."""

    @abc.abstractmethod
    async def acquire(self) -> float:
        """Wait until a request may be sent; return a ticket (the grant time) for the report."""

    @abc.abstractmethod
    def on_success(self, ticket: float) -> None:
        """Report that the request granted with ``ticket`` was accepted."""

    @abc.abstractmethod
    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        """Report a 429 (or 503) for the request granted with ``ticket``."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to close by default
        """Release whatever the limiter holds (connections of a shared backend)."""


class LimiterFactory(abc.ABC):
    """A rate-limit configuration that makes its own :class:`Limiter` (a shared backend)."""

    @abc.abstractmethod
    def make_limiter(self) -> Limiter:
        """Make the limiter one client uses."""


class LocalLimiter(Limiter):
    """The in-process limiter: token bucket, cool-down and the adaptive rate (AIMD).

    Adaptive mode starts at ``initial_per_second`` and, while callers wait for tokens, doubles
    the rate every 0.1 s, but never past twice the success rate of the last second (slow
    start). The first 429 halves it; each later 429 sets it to ``decrease`` times the lower of
    the current rate and the success rate of the last second, once per round: a 429 for a
    request granted before the last decrease says nothing new. Between 429s the rate grows by
    ``increase`` times its last decreased value per second, up to ``per_second`` when set.
    """

    def __init__(self, config: RateLimit) -> None:
        self._config = config
        self._clock: Clock = config.clock
        self._sleep: Sleep = config.sleep
        now = self._clock()
        self._adaptive = config.is_adaptive
        self._ceiling = config.per_second if config.per_second is not None else math.inf
        if not config.enabled:
            self._base_rate = math.inf
        elif self._adaptive:
            self._base_rate = min(config.initial_per_second, self._ceiling)
        else:
            self._base_rate = self._ceiling
        self._burst = float(config.burst or 1)
        self._tokens = self._burst
        self._updated = now
        self._cooldown_until = -math.inf
        # Adaptive state.
        self._slow_start = self._adaptive
        self._base_since = now  # when _base_rate was set
        self._last_decrease = -math.inf
        self._demand_since: float | None = None  # slow start: callers have waited since then
        self._bins = [0] * _WINDOW_BINS
        self._bin_index = int(now / _BIN_SECONDS)
        self.throttled = 0
        """How many 429s this limiter has been told of."""

    @property
    def rate(self) -> float:
        """The rate currently enforced, in requests per second (``inf`` when unpaced)."""
        return self._rate_at(self._clock())

    def _rate_at(self, now: float) -> float:
        if not self._adaptive or math.isinf(self._base_rate):
            return self._base_rate
        if self._slow_start:
            if self._demand_since is None:
                return self._base_rate
            grown = self._base_rate * 2 ** ((now - self._demand_since) / _SLOW_START_DOUBLING)
            # Grow only as far as demand shows: at most twice what was achieved lately.
            grown = min(grown, max(self._base_rate, 2 * self._measured_rate(now)))
        else:
            step = self._config.increase * self._base_rate
            grown = self._base_rate + step * (now - self._base_since)
        return min(grown, self._ceiling)

    def _refill(self, now: float) -> float:
        rate = self._rate_at(now)
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self._burst, self._tokens + elapsed * rate)
            self._updated = now
        return rate

    async def acquire(self) -> float:
        """Wait for the cool-down and a token; cancellation gives the token back."""
        while True:
            now = self._clock()
            if now < self._cooldown_until:
                await self._sleep(self._cooldown_until - now)
                continue
            rate = self._refill(now)
            if math.isinf(rate):
                return now
            self._tokens -= 1
            if self._tokens >= 0:
                return now
            if self._slow_start and self._demand_since is None:
                self._demand_since = now
            delay = -self._tokens / rate
            try:
                await self._sleep(delay)
            except BaseException:
                self._tokens += 1
                raise
            now = self._clock()
            if now >= self._cooldown_until:
                return now
            self._tokens += 1  # a 429 arrived while we waited: queue again behind it

    def _advance(self, now: float) -> None:
        """Move the success window to ``now``, clearing the bins that fell out of it."""
        index = int(now / _BIN_SECONDS)
        if index != self._bin_index:
            for i in range(self._bin_index + 1, min(index, self._bin_index + _WINDOW_BINS) + 1):
                self._bins[i % _WINDOW_BINS] = 0
            self._bin_index = index

    def _measured_rate(self, now: float) -> float:
        """Successes per second over the last second."""
        self._advance(now)
        return sum(self._bins) / (_WINDOW_BINS * _BIN_SECONDS)

    def on_success(self, ticket: float) -> None:
        """Count the success towards the measured rate."""
        if self._adaptive:
            now = self._clock()
            self._advance(now)
            self._bins[self._bin_index % _WINDOW_BINS] += 1

    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        """Start the shared cool-down and, in adaptive mode, lower the rate."""
        self.throttled += 1
        now = self._clock()
        if retry_after is not None and retry_after > 0:
            self._refill(now)
            self._cooldown_until = max(self._cooldown_until, now + retry_after)
            self._tokens = min(self._tokens, 0.0)  # no burst when the cool-down ends
            self._updated = max(self._updated, self._cooldown_until)
        if not self._adaptive or ticket < self._last_decrease:
            return
        current = self._rate_at(now)
        if self._slow_start:
            new_rate = current / 2
            self._slow_start = False
        else:
            measured = self._measured_rate(now)
            new_rate = self._config.decrease * (min(current, measured) if measured else current)
        self._base_rate = max(self._config.min_per_second, new_rate)
        self._base_since = now
        self._last_decrease = now


def make_limiter(rate_limit: RateLimit | LimiterFactory) -> Limiter:
    """Make the limiter for a client from its ``rate_limit`` argument."""
    if isinstance(rate_limit, LimiterFactory):
        return rate_limit.make_limiter()
    return LocalLimiter(rate_limit)

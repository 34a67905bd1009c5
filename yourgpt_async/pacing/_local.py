"""The in-process limiter: a GCRA schedule, a shared 429 cool-down, and a rate that adapts to
an unknown limit (:class:`~._model.RateModel`), or the quota rate-limit headers announce.

One :class:`LocalLimiter` serves every call of a client; :func:`make_limiter` makes it, or lets
a :class:`~._limiter.LimiterFactory` make its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import heapq
import itertools
import math
from collections.abc import Callable

from .._config import Clock, RateLimit, Sleep
from .._exceptions import NotSentError
from ..types import Priority
from ._headers import RateHints
from ._limiter import BULK, INTERACTIVE, Limiter, LimiterFactory, NoTurnInTime
from ._model import RateModel
from ._quota import Quota
from ._rules import (
    ARRIVAL_TOLERANCE,
    BULK_SHARE_EVERY,
    BURST_RESERVE,
    DEMAND_WINDOW,
    TOLD_AFTER_429,
    TOLD_MARGIN,
)

__all__ = ["LocalLimiter", "closed", "make_limiter"]

_INF = math.inf


class LocalLimiter(Limiter):
    """The in-process limiter: a GCRA schedule, the cool-down, the adaptive rate (AIMD) and the
    quota that rate-limit headers announce.

    Callers that may not go at once wait in two first-come-first-served queues, interactive
    and bulk, released one turn at a time (``1 / rate`` apart, up to ``burst`` at once) by a
    single pump task, so a change of rate or a cool-down applies to everyone already waiting.
    The next free turn goes to the first interactive caller, except that while both queues
    wait every tenth turn goes to bulk, so bulk never starves. A caller with a
    deadline that a cool-down outlasts fails at once; one still queued at its deadline fails
    then.

    Told a rate, the limiter keeps 1 % under it and leaves three quarters of a told burst
    unused, so that the service's bucket never runs dry on jitter; a 429 shows those margins
    too thin for the service, and drops the burst to one and the rate to 3 % under.

    Adaptive mode paces at the rate of its :class:`~._model.RateModel`, which starts at
    ``initial_per_second``, doubles it every 0.05 s while callers are held back (slow start),
    reads where the service's limit lies from what it accepted before each 429, and probes
    higher again only within the pause budget; the fleet's Lua runs the same rules (see
    ``_model`` for them). ``per_second``, when set, caps the rate.

    Rate-limit headers, when a reply has them, say how many requests the service will still
    take before its quota resets: the limiter spreads those over the time left (less what it
    sent after that reply), and holds every call until the reset once they are spent. They
    can only slow the pace, never raise it above what 429s showed.
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
            self._ceiling = self._ceiling * TOLD_MARGIN
            self._rate = self._ceiling
        burst = config.burst or 1
        if not self._adaptive and burst > 1:
            burst = max(1, math.floor(burst * (1 - BURST_RESERVE)))
        self._burst = burst
        # Found, not told: tolerate callers arriving together (one loop turn apart) as long as
        # they fit in a few milliseconds of the rate, instead of queueing each one.
        self._jitter_tolerance = ARRIVAL_TOLERANCE if self._adaptive and not config.burst else 0.0
        self._next = -math.inf  # GCRA's theoretical arrival time: the next free turn
        self._last_ticket = -math.inf
        self._cooldown_until = -math.inf
        self._waiters: collections.deque[asyncio.Future[float]] = collections.deque()
        self._bulk: collections.deque[asyncio.Future[float]] = collections.deque()
        self._bulk_skipped = 0  # turns given to interactive callers while bulk ones waited
        self._deadlines: list[tuple[float, int, asyncio.Future[float]]] = []
        self._order = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None  # set to wake the sleeping pump
        self._pump_until = math.inf  # when the sleeping pump means to wake
        self._quota: Quota | None = None  # made when a reply first has rate-limit headers
        self._quota_rate = math.inf
        # Adaptive: the rate, and where the service's limit seems to be.
        self._model = RateModel(
            initial=self._rate,
            ceiling=self._ceiling,
            floor=config.min_per_second,
            increase=config.increase,
            decrease=config.decrease,
        )
        self._held_back_at = -math.inf  # when a caller last had to wait for a turn
        self._demand_since = -math.inf  # since when callers have been held back without a lapse
        self.throttled = 0
        """How many 429s this limiter has been told of."""
        self.paused_seconds = 0.0
        """Seconds every call was held by cool-downs so far (overlapping ones counted once)."""

    @property
    def rate(self) -> float:
        """The rate currently enforced, in requests per second (``inf`` when unpaced)."""
        return min(self._rate, self._quota_rate)

    @property
    def waiting(self) -> int:
        """How many callers are queued for a turn."""
        return len(self._waiters) + len(self._bulk)

    # -- the schedule ----------------------------------------------------------------------

    def _hold(self) -> float:
        """Until when nobody may go: a 429's cool-down, or a spent quota's reset."""
        quota = self._quota
        if quota is not None and quota.budget <= 0:
            return max(quota.hold_until, self._cooldown_until)
        return self._cooldown_until

    def _turn(self, now: float) -> float:
        """When the next turn is free (may be in the past)."""
        if self._quota is None:
            rate, hold = self._rate, self._cooldown_until
        else:
            rate, hold = min(self._rate, self._quota_rate), self._hold()
        if rate == _INF:
            return hold
        backlog = (self._burst - 1) / rate
        if backlog < self._jitter_tolerance:  # noqa: PLR1730 - max() costs a call per turn
            backlog = self._jitter_tolerance
        turn = self._next - backlog
        return turn if turn > hold else hold

    def _take(self, now: float, *, late_ok: bool = False) -> float:
        """Give a turn at ``now``; return its ticket (``now``, nudged past any earlier one so
        that tickets are unique and in the order given)."""
        quota = self._quota
        rate = self._rate if quota is None else min(self._rate, self._quota_rate)
        if rate != _INF:
            interval = 1.0 / rate
            # The pump may wake a little late (timer slack); such lateness, up to half an
            # interval, is caught up rather than pushing the whole schedule back. Never more:
            # two turns at once would put one request too many in a strict window.
            start = now - 0.5 * interval if late_ok else now
            scheduled = self._next
            self._next = (scheduled if scheduled > start else start) + interval
        last = self._last_ticket
        ticket = now if now > last else math.nextafter(last, _INF)
        self._last_ticket = ticket
        if quota is not None:
            quota.given(ticket, now)
        return ticket

    async def acquire(self, priority: Priority = INTERACTIVE) -> float:
        """Wait for the cool-down and this caller's turn; return the time it was given.

        A caller cancelled while queued leaves the queue; nobody's turn is lost.
        """
        return await self.acquire_within(_INF, priority)

    async def acquire_within(self, seconds: float, priority: Priority = INTERACTIVE) -> float:
        """:meth:`acquire`, failing at once if a cool-down lasts longer than ``seconds``, and
        when still queued after ``seconds``.

        Raises:
            NoTurnInTime: No turn in time; ``wait`` is the rest of the cool-down, if that
                was the reason.
        """
        now = self._clock()
        if not self._waiters and self._turn(now) <= now:
            if not self._bulk:
                return self._take(now)
            # Bulk callers wait (the pump is late for them): an interactive one goes first
            # unless bulk is owed its share.
            if priority is not BULK and self._bulk_skipped < BULK_SHARE_EVERY - 1:
                self._bulk_skipped += 1
                return self._take(now)
        return await self._queue(now, seconds, priority)

    async def _queue(self, now: float, seconds: float, priority: Priority = INTERACTIVE) -> float:
        """Wait in line for a turn, for at most ``seconds``."""
        self._model.held_back(now)
        hold = self._hold()
        if hold > now + seconds:
            raise NoTurnInTime(hold - now, cooldown=True)
        if now - self._held_back_at > DEMAND_WINDOW:
            self._demand_since = now  # demand (re)starts: earlier, the pace held nobody back
        self._held_back_at = now
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        queue = self._bulk if priority is BULK else self._waiters
        queue.append(waiter)
        if seconds != _INF:
            heapq.heappush(self._deadlines, (now + seconds, next(self._order), waiter))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.ensure_future(self._run_pump())
        elif now + seconds < self._pump_until:
            self._wake_pump()  # this deadline comes before the pump means to wake
        try:
            return await waiter
        except asyncio.CancelledError:
            if not waiter.done() or waiter.cancelled():
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise

    def _expire(self, now: float) -> float:
        """Fail the queued callers whose deadline has come or falls in the hold; return the
        next deadline still ahead (``inf`` if none)."""
        deadlines = self._deadlines
        hold = self._hold()
        while deadlines:
            deadline, _, waiter = deadlines[0]
            if waiter.done():
                heapq.heappop(deadlines)
            elif deadline <= now or deadline < hold:
                heapq.heappop(deadlines)
                in_hold = hold > now
                waiter.set_exception(
                    NoTurnInTime(hold - now if in_hold else None, cooldown=in_hold)
                )
            else:
                return deadline
        return math.inf

    def _head(self) -> collections.deque[asyncio.Future[float]] | None:
        """The queue whose first caller gets the next turn (``None`` when both are empty):
        interactive, but bulk every tenth turn while both wait."""
        waiters, bulk = self._waiters, self._bulk
        while waiters and waiters[0].done():  # cancelled or expired while queued
            waiters.popleft()
        while bulk and bulk[0].done():
            bulk.popleft()
        if not bulk:
            return waiters or None
        if waiters and self._bulk_skipped < BULK_SHARE_EVERY - 1:
            return waiters
        return bulk

    async def _run_pump(self) -> None:
        """Hand out turns to the queues, in order, until they are empty."""
        while (waiters := self._head()) is not None:
            now = self._clock()
            next_deadline = self._expire(now) if self._deadlines else math.inf
            if waiters[0].done():
                continue
            turn = self._turn(now)
            wake = min(turn, next_deadline)
            if wake > now:
                self._pump_until = wake
                await self._pause(wake - now)
                continue
            if waiters is self._bulk:
                self._bulk_skipped = 0
            elif self._bulk:
                self._bulk_skipped += 1
            waiters.popleft().set_result(self._take(now, late_ok=True))
        if len(self._deadlines) > 64:
            self._deadlines = [entry for entry in self._deadlines if not entry[2].done()]
            heapq.heapify(self._deadlines)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or until :meth:`_wake_pump` says the schedule changed. (A wake-up
        is not a cancellation: the pump's own cancellation, by :meth:`aclose`, is never taken
        for one.)"""
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wake = wake
        sleep = asyncio.ensure_future(self._sleep(seconds))
        sleep.add_done_callback(functools.partial(_wake_up, wake))
        try:
            await wake
        finally:
            self._wake = None
            sleep.cancel()

    def _wake_pump(self) -> None:
        """The schedule changed: make the pump recompute the next turn at once."""
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    # -- reports ---------------------------------------------------------------------------

    def on_rate_headers(self, ticket: float, hints: RateHints) -> None:
        """Pace by the quota the headers announce: spread what is left over the time left."""
        now = self._clock()
        quota = self._quota
        if quota is None:
            quota = self._quota = Quota(self._config.max_cooldown)
        quota.update(ticket, hints, now)
        self._quota_rate = max(quota.rate(now), self._config.min_per_second)
        self._wake_pump()

    def on_success(self, ticket: float) -> None:
        """Count the success; while the rate holds callers back, let it grow."""
        if not self._adaptive:
            return
        now = self._clock()
        model = self._model
        demand = model.rate < self._quota_rate and (
            bool(self._waiters or self._bulk) or now - self._held_back_at <= DEMAND_WINDOW
        )  # the rate is what holds callers back, not the headers' quota
        model.on_success(ticket, now, demand=demand)
        self._rate = model.rate

    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        """Start the shared cool-down (capped at ``max_cooldown``) and, in adaptive mode,
        lower the rate."""
        self.throttled += 1
        now = self._clock()
        upcoming = self._cool_down(now, retry_after)
        if not self._adaptive:
            # The margins were too thin for this service: keep the whole burst, and 3 %.
            self._burst = 1
            if self._config.per_second is not None:
                self._rate = min(self._rate, self._config.per_second * TOLD_AFTER_429)
            return
        held_back = now - self._held_back_at <= DEMAND_WINDOW
        model = self._model
        model.on_throttled(
            ticket, now, pause=upcoming, demand=held_back, demand_since=self._demand_since
        )
        self._rate = model.rate
        self._wake_pump()

    def _cool_down(self, now: float, retry_after: float | None) -> float:
        """Hold every call until ``retry_after`` from now; return the pause this adds."""
        if retry_after is None or retry_after <= 0:
            return 0.0
        until = now + min(retry_after, self._config.max_cooldown)
        upcoming = 0.0
        if until > self._cooldown_until:
            # Time spent paused is not time the service was asked to accept anything.
            upcoming = until - max(self._cooldown_until, now)
            self.paused_seconds += upcoming
            self._cooldown_until = until
        # No burst after it: the first turn at its end, the next ones paced.
        backlog = (self._burst - 1) / self._rate if math.isfinite(self._rate) else 0.0
        self._next = max(self._next, self._cooldown_until + backlog)
        self._wake_pump()
        return upcoming

    def abandon_queue(self, error: Callable[[], Exception]) -> None:
        """Fail every queued caller with ``error()`` (they are to wait elsewhere, or not at
        all), keeping their order: interactive callers first."""
        for queue in (self._waiters, self._bulk):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_exception(error())

    async def aclose(self) -> None:
        """Stop the pump; callers still queued fail with
        :class:`~yourgpt_async.NotSentError` (their tasks were not cancelled: a
        ``CancelledError`` would tell ``gather`` or a task group otherwise)."""
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        self.abandon_queue(closed)


def _wake_up(wake: asyncio.Future[None], _: object) -> None:
    if not wake.done():
        wake.set_result(None)


def closed() -> NotSentError:
    """The error of a call still waiting for its turn when its client is closed."""
    return NotSentError("not sent: the client was closed while this call waited for its turn")


def make_limiter(rate_limit: RateLimit | LimiterFactory) -> Limiter:
    """Make the limiter for a client from its ``rate_limit`` argument."""
    if isinstance(rate_limit, LimiterFactory):
        return rate_limit.make_limiter()
    return LocalLimiter(rate_limit)

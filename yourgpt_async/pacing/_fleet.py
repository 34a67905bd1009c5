"""The fleet's limiter: one client's side of a rate limit shared through Redis.

:class:`RedisLimiter` sends the scripts of ``_lua`` (every decision about the shared schedule is
taken in Redis), sleeps until the slots they give, reports what the replies said, falls back to
a :class:`~._local.LocalLimiter` while Redis is unreachable, and brings the calls queued there
back to the shared schedule when it returns. Its settings are a
:class:`~yourgpt_async.RedisRateLimit`'s (``_redis``), which makes it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import warnings
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from .._config import Clock, RateLimit, Sleep
from .._exceptions import RateLimiterUnavailableError, redact
from ..types import Priority
from . import _lua as lua
from ._headers import RateHints
from ._limiter import BULK, INTERACTIVE, Limiter, NoTurnInTime
from ._local import LocalLimiter, closed
from ._redis_url import connection_pool, redact_url, redis_errors, url_secrets

if TYPE_CHECKING:
    from redis.asyncio import BlockingConnectionPool

__all__ = ["FleetSettings", "RedisLimiter"]

logger = logging.getLogger("yourgpt_async")

_POOL_SIZE: Final = 8  # connections per client; each command holds one for ~0.1 ms
_COALESCE: Final = 0.001  # a 429 that extends the known cool-down by less is not written again
_FLUSH_DELAY: Final = 0.01  # what replies said is told to Redis at once in batches this far apart
_DEFAULTS: Final = RateLimit()  # a fleet adapts with a lone client's increase and decrease
_BOOKINGS: Final = 4096  # reservations remembered until their request is reported
_IDLE_MS: Final = 60_000  # the shared state expires after this long unused (or max_cooldown)
_NO_LIMIT: Final = 1e9  # seconds a caller with no deadline can wait
# Statuses of the acquire script.
_GO, _LATER, _PAST_DEADLINE, _COOLED, _COOLDOWN_PAST_DEADLINE = range(5)


class FleetSettings(Protocol):
    """What the limiter reads of its :class:`~yourgpt_async.RedisRateLimit`."""

    @property
    def url(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def prefix(self) -> str: ...
    @property
    def per_second(self) -> float | None: ...
    @property
    def burst(self) -> int: ...
    @property
    def is_adaptive(self) -> bool: ...
    @property
    def initial_per_second(self) -> float: ...
    @property
    def min_per_second(self) -> float: ...
    @property
    def max_cooldown(self) -> float: ...
    @property
    def on_redis_error(self) -> Literal["local", "fail"]: ...
    @property
    def expected_clients(self) -> int: ...
    @property
    def timeout(self) -> float: ...
    @property
    def reconnect_interval(self) -> float: ...
    @property
    def clock(self) -> Clock | None: ...
    @property
    def sleep(self) -> Sleep: ...
    def fallback_at(self, shared_rate: float | None) -> RateLimit: ...


class _Rejoin(Exception):
    """Redis answers again: a caller queued in the local fall-back goes back to Redis."""


class RedisLimiter(Limiter):
    """Paces one client's requests by the schedule its :class:`RedisRateLimit` keeps in Redis.

    Every decision about the shared schedule is taken in Redis by the scripts of ``_lua``; the
    limiter sends them, sleeps, falls back to a :class:`~._local.LocalLimiter` while Redis is
    unreachable, and brings the calls queued there back to the shared schedule when it
    returns. What it saw since its last round trip (the successes, the latest rate-limit
    headers) goes with the next one; during a cool-down, or when a quota is spent, at once.

    Args:
        config: The shared limit.
        redis: What to send the scripts through: anything with redis-py's
            ``register_script``, whose scripts are awaitable. ``None`` (the default): a pool
            of connections to ``config.url``, closed with the limiter; one passed in is the
            caller's to close.

    Raises:
        ConfigurationError: The ``redis`` extra is not installed, or Redis refuses the URL.
    """

    def __init__(self, config: FleetSettings, *, redis: Any = None) -> None:
        self._config = config
        self._clock: Clock = config.clock or time.monotonic
        self._sleep: Sleep = config.sleep
        self._url = redact_url(config.url)
        self._secrets = url_secrets(config.url)
        settings = lua.settings(
            per_second=config.per_second,
            adaptive=config.is_adaptive,
            burst=config.burst,
            initial=config.initial_per_second,
            floor=config.min_per_second,
            increase=_DEFAULTS.increase,
            decrease=_DEFAULTS.decrease,
            max_cooldown=config.max_cooldown,
            clients=config.expected_clients,
            idle_ms=max(_IDLE_MS, math.ceil(config.max_cooldown * 1000) + 1000),
        )
        self._pool: BlockingConnectionPool | None = None
        if redis is None:
            self._pool, self._errors = connection_pool(
                config.url, config.timeout, _POOL_SIZE, self._secrets
            )
            from redis.asyncio import Redis

            redis = Redis(connection_pool=self._pool)
        else:
            self._errors = redis_errors()
        self._errors = (*self._errors, lua.NotRedisError)
        key = f"{config.prefix}:{{{config.name}}}"  # a hash tag: one Redis Cluster slot
        self._scripts = lua.Scripts(redis, key=key, settings=settings, clock=config.clock)
        self._local: LocalLimiter | None = None  # the fall-back, while in use
        self._bulk_gate = asyncio.Lock()  # one bulk caller of this client asks Redis at a time
        self._gate = asyncio.Lock()  # ... and one interactive caller, when the rate is learnt
        self._cooldown_until = -math.inf  # on self._clock: the latest 429 this client saw
        self._shared_rate: float | None = None  # the fleet's rate as of the last answer
        self._last_ticket = -math.inf
        # ticket -> when its turn was given, and its slot, on the schedule's clock
        self._booked: dict[float, tuple[float, float]] = {}
        # Reported with the next script: when each success's request was to go, and the
        # latest rate-limit headers (the slot of their reply first).
        self._successes: list[float] = []
        self._hint: tuple[str, ...] = lua.NO_HINT
        self._flush: asyncio.Task[None] | None = None  # reporting them at once
        self._slow_start = config.is_adaptive  # the shared rate's, as of the last answer
        self._falling_back = False
        self._epoch = 0  # how many times Redis was lost
        self._warned = False
        self._next_probe = -math.inf
        self._probe: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._closing: asyncio.Future[None] | None = None  # done once closed: naps end
        self.throttled = 0
        """How many 429s this client has been told of."""

    def __repr__(self) -> str:
        mode = "closed" if self._closed else "local" if self._falling_back else "shared"
        return f"<RedisLimiter url={self._url!r} name={self._config.name!r} {mode}>"

    @property
    def shared(self) -> bool:
        """Whether requests are paced through Redis now (``False`` while falling back)."""
        return not self._falling_back

    @property
    def rate(self) -> float:
        """The fleet's rate as last seen in Redis (the local share while falling back)."""
        if self._local is not None and self._falling_back:
            return self._local.rate
        if self._shared_rate is not None and self._shared_rate > 0:
            return self._shared_rate
        per_second = self._config.per_second
        return per_second if per_second is not None else self._config.initial_per_second

    # -- acquiring -------------------------------------------------------------------------

    async def acquire(self, priority: Priority = INTERACTIVE) -> float:
        """Wait for this request's slot in the shared schedule (the local one while falling back).

        Returns:
            The grant time on the limiter's clock, the ticket for the report.

        Raises:
            RateLimiterUnavailableError: Redis is unreachable and ``on_redis_error="fail"``.
            NotSentError: The limiter was closed (before or while the call waited).
        """
        return await self.acquire_within(math.inf, priority)

    async def acquire_within(self, seconds: float, priority: Priority = INTERACTIVE) -> float:
        """:meth:`acquire`, failing at once when the shared cool-down or the next free slot
        lies past ``seconds`` (then nothing is reserved), and when still waiting by then.

        Raises:
            NoTurnInTime: No turn in time; nothing was sent.
            RateLimiterUnavailableError: Redis is unreachable and ``on_redis_error="fail"``.
        """
        if self._closed:
            raise closed()
        deadline = self._clock() + seconds
        while True:
            if self._falling_back:
                ticket = await self._acquire_locally(deadline, priority)
                if ticket is not None:
                    return ticket
                continue  # Redis is back: re-join the shared schedule
            try:
                booking = await self._acquire_shared(deadline, priority)
            except _Rejoin:
                continue  # Redis was lost before a slot was reserved: ask the fall-back
            except self._errors as error:
                self._fall_back(error)
                continue
            if booking is not None:
                return self._book(booking)

    def _book(self, booking: tuple[float, float]) -> float:
        """A ticket for a turn (unique, in the order given), remembered with when the turn was
        given and its slot until its request is reported: a 429 for a request paced before
        the last decrease says nothing new, and a success counts in the span it was sent in."""
        now, last = self._clock(), self._last_ticket
        ticket = self._last_ticket = now if now > last else math.nextafter(last, math.inf)
        booked = self._booked
        booked[ticket] = booking
        if len(booked) > _BOOKINGS:
            for old in list(itertools.islice(booked, len(booked) // 2)):
                del booked[old]
        return ticket

    async def _acquire_shared(
        self, deadline: float, priority: Priority
    ) -> tuple[float, float] | None:
        """Reserve a slot, sleep until it and confirm it; return when it was given and the
        slot, or ``None`` if a cool-down began meanwhile (or Redis was lost), so that the
        caller must queue again."""
        self._hold_for_own_cooldown(deadline)
        pause = self._cooldown_until - self._clock()
        if pause > 0:  # a 429 this client saw: its write to Redis may still be under way
            await self._nap(pause)
        epoch = self._epoch
        if priority is BULK:
            async with self._bulk_gate:
                booking, wait = await self._reserve(deadline, priority)
        elif self._config.is_adaptive:  # no reservation far ahead: one asks at a time
            async with self._gate:
                booking, wait = await self._reserve(deadline, priority)
        else:
            booking, wait = await self._reserve(deadline, priority)
        if wait <= 0:
            return booking
        await self._nap(wait)
        if self._falling_back or self._epoch != epoch:
            # Redis was lost meanwhile: the slot may be lost with it (a restarted Redis knows
            # nothing of it), so queue again, locally or in Redis as it is now.
            return None
        status, _, _ = await self._run_acquire("c", priority, _NO_LIMIT)
        return booking if status == _GO else None

    async def _nap(self, seconds: float) -> None:
        """Sleep ``seconds``, unless the limiter is closed first: then the call gives up with
        :class:`~yourgpt_async.NotSentError`, and sends no command after the close."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        sleep = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((sleep, self._closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
        if self._closed:
            raise closed()

    def _hold_for_own_cooldown(self, deadline: float) -> None:
        left = self._cooldown_until - self._clock()
        if left > 0 and self._clock() + left > deadline:
            raise NoTurnInTime(left, cooldown=True)

    async def _reserve(
        self, deadline: float, priority: Priority
    ) -> tuple[tuple[float, float], float]:
        """Reserve the next free slot for which the caller has time; return when it was given
        and the slot, and the wait until it. A bulk caller is told to come back while the
        slot is more than a turn away."""
        while True:
            left = deadline - self._clock()
            if left <= 0:
                raise NoTurnInTime(None, cooldown=False)
            status, wait, booking = await self._run_acquire("r", priority, min(left, _NO_LIMIT))
            if status == _GO:
                return booking, wait
            if status == _COOLDOWN_PAST_DEADLINE:
                raise NoTurnInTime(wait, cooldown=True)
            if status == _PAST_DEADLINE:
                raise NoTurnInTime(wait, cooldown=False)
            await self._nap(min(wait, max(0.0, deadline - self._clock())))
            if self._falling_back:
                raise _Rejoin  # nothing reserved, and Redis is gone: the caller starts over

    async def _run_acquire(
        self, mode: str, priority: Priority, budget: float
    ) -> tuple[int, float, tuple[float, float]]:
        """One round trip of the acquire script, carrying what was seen since the last one:
        its status, the wait, and when a turn was given and its slot."""
        maxwait = None if budget >= _NO_LIMIT else budget
        bulk = priority is BULK
        got = await self._scripts.acquire(mode, bulk=bulk, maxwait=maxwait, reports=self._reports())
        self._slow_start = got.slow_start
        if mode == "r":
            self._shared_rate = got.rate
        return got.status, got.wait, (got.now, got.slot)

    def _reports(self) -> tuple[str, ...]:
        """What was seen since the last round trip, for the next one to carry (and forget)."""
        successes, self._successes = self._successes, []
        hint, self._hint = self._hint, lua.NO_HINT
        return lua.reports(hint, successes)

    async def _acquire_locally(self, deadline: float, priority: Priority) -> float | None:
        """A turn from the local fall-back; ``None`` if Redis came back meanwhile."""
        self._maybe_probe()
        local = self._local
        assert local is not None  # made with the fall-back
        try:
            return await local.acquire_within(deadline - self._clock(), priority)
        except _Rejoin:
            return None

    # -- reports ---------------------------------------------------------------------------

    def on_success(self, ticket: float) -> None:
        """Count the success: towards the shared rate (reported with the next acquire), or the
        local fall-back's while it is in use."""
        booking = self._booked.pop(ticket, None)
        if self._falling_back and self._local is not None:
            self._local.on_success(ticket)
        elif self._config.is_adaptive and booking is not None:
            self._successes.append(booking[1])  # told to Redis with this client's next acquire
            if self._slow_start or self._clock() < self._cooldown_until:
                # ... or at once: in slow start, which doubles the rate every 0.05 s of them,
                # and during a 429's pause, when replies it overtook still count towards
                # what the service accepted, before sending resumes.
                self._report_soon()

    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        """Start the cool-down here at once (capped at ``max_cooldown``), and in Redis for every
        other client; there, lower the shared rate (adaptive) or drop the burst (told)."""
        self.throttled += 1
        if self._falling_back and self._local is not None:
            self._local.on_throttled(ticket, retry_after)
        pause = min(retry_after or 0.0, self._config.max_cooldown)
        ends = self._clock() + pause
        if pause > 0:
            if ends <= self._cooldown_until + _COALESCE:
                return  # already shared, or about to be
            self._cooldown_until = ends
        if not self._falling_back and not self._closed:
            booking = self._booked.pop(ticket, None)
            if booking is None:
                booking = (self._clock(), self._clock())
            self._spawn(self._share_throttle(retry_after, booking))

    async def _share_throttle(
        self, retry_after: float | None, booking: tuple[float, float]
    ) -> None:
        given, slot = booking
        reports = self._reports()
        try:
            rate = await self._scripts.throttle(
                retry_after, slot=slot, given=given, reports=reports
            )
        except self._errors as error:
            self._lost("share a 429 cool-down", error)
        else:
            self._shared_rate = rate

    def on_rate_headers(self, ticket: float, hints: RateHints) -> None:
        """Share what the headers said: the fleet spends the quota they announce, as one client
        does, and once it is spent holds until its reset (for at most ``max_cooldown``).
        Reported with the next acquire; at once when the quota is spent."""
        if self._falling_back:
            if self._local is not None:
                self._local.on_rate_headers(ticket, hints)
            return
        booking = self._booked.get(ticket)
        if self._closed or booking is None:
            return
        slot = booking[1]
        limit = "" if hints.limit is None else str(hints.limit)
        window = "" if hints.window is None else repr(hints.window)
        self._hint = (repr(slot), str(hints.remaining), repr(hints.reset), limit, window)
        if hints.remaining <= 0:
            config = self._config
            hold = min(hints.reset, hints.window or math.inf, config.max_cooldown)
            self._cooldown_until = max(self._cooldown_until, self._clock() + hold)
            self._report_soon()

    def _report_soon(self) -> None:
        if self._flush is None and not self._closed:
            self._flush = self._spawn(self._report())

    async def _report(self) -> None:
        """Tell Redis what was seen so far, reserving nothing."""
        await self._sleep(_FLUSH_DELAY)  # gather the replies arriving together
        self._flush = None
        if not self._falling_back and (self._successes or self._hint is not lua.NO_HINT):
            await self._background("report what replies said", self._run_acquire("n", BULK, 0))

    async def _background(self, what: str, work: Awaitable[object]) -> None:
        """Await a write of a background task; if Redis fails it, see :meth:`_lost`."""
        try:
            await work
        except self._errors as error:
            self._lost(what, error)

    def _lost(self, what: str, error: BaseException) -> None:
        """A background write failed: log it, or fall back if that is the policy."""
        if self._closed or self._config.on_redis_error == "fail":
            logger.warning("could not %s through Redis %s (%s)", what, self._url, self._text(error))
        else:
            self._fall_back(error)

    # -- falling back and coming back ------------------------------------------------------

    def _fall_back(self, error: BaseException) -> None:
        """Handle an unreachable Redis: raise, or switch to the local limiter."""
        what = f"{type(error).__name__}: {self._text(error)}"
        if self._closed:
            raise closed() from error
        if self._config.on_redis_error == "fail":
            raise RateLimiterUnavailableError(
                f"the shared rate limit {self._config.name!r} at {self._url} could not be "
                f"reached ({what}); nothing was sent. Check Redis, or use "
                "RedisRateLimit(on_redis_error='local') to keep sending, paced per client, "
                "while it is down"
            ) from error
        if self._falling_back:
            return
        self._falling_back = True
        self._epoch += 1
        self._next_probe = self._clock() + self._config.reconnect_interval
        fallback = self._config.fallback_at(self._shared_rate)
        old, self._local = self._local, LocalLimiter(fallback)
        if old is not None:
            self._spawn(old.aclose())
        message = (
            f"the shared rate limit {self._config.name!r} at {self._url} is unreachable "
            f"({what}); this client paces itself alone at up to {fallback.per_second:g}/s "
            f"until Redis answers again (tried every {self._config.reconnect_interval:g}s)"
        )
        if self._warned:
            logger.warning("%s", message)
        else:
            self._warned = True
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def _text(self, error: BaseException) -> str:
        """An error's text without the URL's password."""
        return redact(str(error), self._secrets)

    def _maybe_probe(self) -> None:
        if self._probe is None and self._clock() >= self._next_probe:
            self._probe = self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            rate = self._shared_rate if self._config.is_adaptive and self._shared_rate else 0.0
            await self._scripts.rejoin(self._config.reconnect_interval + 1.0, rate)
        except self._errors as error:
            self._next_probe = self._clock() + self._config.reconnect_interval
            logger.debug("Redis %s still unreachable (%s)", self._url, self._text(error))
        else:
            self._falling_back = False
            if self._local is not None:
                self._local.abandon_queue(_Rejoin)  # its callers queue in Redis now
            logger.info(
                "the shared rate limit %r at %s is reachable again", self._config.name, self._url
            )
        finally:
            self._probe = None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # Retrieved here, so that nothing is ever reported as "never retrieved".
        error = None if task.cancelled() else task.exception()
        if error is not None:
            logger.error("a background task of %r failed", self, exc_info=error)

    async def aclose(self) -> None:
        """Fail the calls still waiting with :class:`~yourgpt_async.NotSentError`, finish
        sharing pending cool-downs (for at most ``timeout``), then close the pool."""
        if self._closed:
            return
        self._closed = True
        if self._closing is not None:
            self._closing.set_result(None)  # waiting calls give up, sending nothing more
        if self._probe is not None:
            self._probe.cancel()
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=self._config.timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._pool is not None:
            await self._pool.disconnect()  # the pool is ours, not the Redis object's
        if self._local is not None:
            await self._local.aclose()

"""One client's view of a :class:`~yourgpt_async.RedisRateLimit`: reserves its turns in Redis.

Every decision about the shared schedule is taken in Redis by the scripts of ``_redis_lua``;
this module sends them, sleeps, falls back to a :class:`~._ratelimit.LocalLimiter` while Redis
is unreachable, and brings the calls queued there back to the shared schedule when it returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final

from . import _redis_lua as lua
from ._config import Clock, Sleep
from ._exceptions import ConfigurationError, RateLimiterUnavailableError, redact
from ._models import Priority
from ._ratelimit import BULK, INTERACTIVE, Limiter, LocalLimiter, NoTurnInTime
from ._redis import RedisRateLimit, redact_url, url_secrets
from ._wire import RateHints

if TYPE_CHECKING:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.commands.core import AsyncScript

__all__ = ["RedisLimiter"]

logger = logging.getLogger("yourgpt_async")

_MICROS: Final = 1_000_000
_POOL_SIZE: Final = 8  # connections per client; each command holds one for ~0.1 ms
_COALESCE: Final = 0.001  # a 429 that extends the known cool-down by less is not written again
_INCREASE: Final = 0.1  # as RateLimit's: the rate set at a decrease, added back per second
_DECREASE: Final = 0.9  # as RateLimit's: the share of the accepted rate kept after a 429
_QUOTA_EVERY: Final = 0.1  # seconds between two writes of what rate-limit headers said
_IDLE_MS: Final = 60_000  # the shared state expires after this long unused (or max_cooldown)
# Statuses of the acquire script.
_GO, _LATER, _PAST_DEADLINE, _COOLED, _COOLDOWN_PAST_DEADLINE = range(5)


class _Rejoin(Exception):
    """Redis answers again: a caller queued in the local fall-back goes back to Redis."""


class RedisLimiter(Limiter):
    """Paces one client's requests by the schedule its :class:`RedisRateLimit` keeps in Redis.

    Args:
        config: The shared limit.

    Raises:
        ConfigurationError: The ``redis`` extra is not installed, or Redis refuses the URL.
    """

    def __init__(self, config: RedisRateLimit) -> None:
        try:
            from redis import asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import RedisError
        except ImportError as error:
            raise ConfigurationError(
                "RedisRateLimit needs the redis package: pip install 'yourgpt-async[redis]'"
            ) from error
        self._config = config
        self._clock: Clock = config.clock
        self._sleep: Sleep = config.sleep
        self._url = redact_url(config.url)
        self._secrets = url_secrets(config.url)
        self._key = f"{config.prefix}:{{{config.name}}}"  # a hash tag: one Redis Cluster slot
        idle = max(_IDLE_MS, math.ceil(config.max_cooldown * 1000) + 1000)
        self._idle = str(idle)
        self._settings = (
            repr(float(config.per_second or 0)),
            "1" if config.is_adaptive else "0",
            str(config.burst),
            repr(config.initial_per_second),
            repr(config.min_per_second),
            repr(_INCREASE),
        )
        try:
            # A few connections serve any number of waiters: a slot is held only for one
            # command, never while sleeping. No retries inside redis-py: a dead server costs one
            # timeout, then the limiter falls back.
            self._pool: BlockingConnectionPool = aioredis.BlockingConnectionPool.from_url(
                config.url,
                max_connections=_POOL_SIZE,
                timeout=config.timeout,
                socket_timeout=config.timeout,
                socket_connect_timeout=config.timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as error:
            raise ConfigurationError(
                f"RedisRateLimit.url {self._url!r} is not usable: {self._text(error)}"
            ) from None
        self._redis: Redis = aioredis.Redis(connection_pool=self._pool)
        self._acquire_script: AsyncScript = self._redis.register_script(lua.ACQUIRE)
        self._throttle_script: AsyncScript = self._redis.register_script(lua.THROTTLE)
        self._quota_script: AsyncScript = self._redis.register_script(lua.QUOTA)
        self._rejoin_script: AsyncScript = self._redis.register_script(lua.REJOIN)
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)
        self._local: LocalLimiter | None = None  # the fall-back, while in use
        self._bulk_gate = asyncio.Lock()  # one bulk caller of this client asks Redis at a time
        self._cooldown_until = -math.inf  # on self._clock: the latest 429 this client saw
        self._offset = 0.0  # Redis's clock (s) less ours, as of the last answer
        self._shared_rate: float | None = None  # the fleet's rate as of the last answer
        self._quota_written = -math.inf
        self._falling_back = False
        self._warned = False
        self._next_probe = -math.inf
        self._probe: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
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
            RuntimeError: The limiter was closed.
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
            raise RuntimeError("this RedisLimiter is closed")
        deadline = self._clock() + seconds
        while True:
            if self._falling_back:
                ticket = await self._acquire_locally(deadline, priority)
                if ticket is not None:
                    return ticket
                continue  # Redis is back: re-join the shared schedule
            try:
                if await self._acquire_shared(deadline, priority):
                    return self._clock()
            except _Rejoin:
                continue  # Redis was lost before a slot was reserved: ask the fall-back
            except self._errors as error:
                self._fall_back(error)

    async def _acquire_shared(self, deadline: float, priority: Priority) -> bool:
        """Reserve a slot, sleep until it and confirm it; ``False`` if a cool-down began
        meanwhile (or Redis was lost), so the caller must queue again."""
        self._hold_for_own_cooldown(deadline)
        pause = self._cooldown_until - self._clock()
        if pause > 0:  # a 429 this client saw: its write to Redis may still be under way
            await self._sleep(pause)
        if priority is BULK:
            async with self._bulk_gate:
                wait = await self._reserve(deadline, priority)
        else:
            wait = await self._reserve(deadline, priority)
        if wait <= 0:
            return True
        await self._sleep(wait)
        if self._falling_back:
            return False  # Redis was lost meanwhile: don't wait on it again
        status, _, _ = await self._run_acquire("c", priority, -1)
        return status == _GO

    def _hold_for_own_cooldown(self, deadline: float) -> None:
        left = self._cooldown_until - self._clock()
        if left > 0 and self._clock() + left > deadline:
            raise NoTurnInTime(left, cooldown=True)

    async def _reserve(self, deadline: float, priority: Priority) -> float:
        """Reserve the next free slot for which the caller has time; return the wait until it.

        A bulk caller is told to come back while the slot is more than two turns away.
        """
        while True:
            left = deadline - self._clock()
            if left <= 0:
                raise NoTurnInTime(None, cooldown=False)
            budget = -1 if left == math.inf else math.floor(left * _MICROS)
            status, micros, _ = await self._run_acquire("r", priority, budget)
            wait = micros / _MICROS
            if status == _GO:
                return wait
            if status == _COOLDOWN_PAST_DEADLINE:
                raise NoTurnInTime(wait, cooldown=True)
            if status == _PAST_DEADLINE:
                raise NoTurnInTime(wait, cooldown=False)
            await self._sleep(min(wait, max(0.0, deadline - self._clock())))
            if self._falling_back:
                raise _Rejoin  # nothing reserved, and Redis is gone: the caller starts over

    async def _run_acquire(
        self, mode: str, priority: Priority, budget: int
    ) -> tuple[int, int, float]:
        """One round trip of the acquire script: its status, µs and the shared rate."""
        rank = "b" if priority is BULK else "i"
        args = (mode, rank, budget, *self._settings, self._config.expected_clients, self._idle)
        reply = await self._acquire_script(keys=(self._key,), args=args)
        status, micros, now, rate = reply
        self._offset = int(now) / _MICROS - self._clock()
        if mode == "r":
            self._shared_rate = float(rate)
        return int(status), int(micros), float(rate)

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
        """Count the success towards the local fall-back's measured rate, while it is in use."""
        if self._falling_back and self._local is not None:
            self._local.on_success(ticket)

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
            sent_at = math.floor((ticket + self._offset) * _MICROS)
            self._spawn(self._share_throttle(pause, sent_at))

    async def _share_throttle(self, pause: float, sent_at: int) -> None:
        per_second, adaptive, _, initial, minimum, _ = self._settings
        args = (math.floor(pause * _MICROS), sent_at, per_second, adaptive, initial, minimum)
        try:
            rate = await self._throttle_script(
                keys=(self._key,), args=(*args, repr(_DECREASE), self._idle)
            )
        except self._errors as error:
            self._lost("share a 429 cool-down", error)
        else:
            self._shared_rate = float(rate)

    def on_rate_headers(self, ticket: float, hints: RateHints) -> None:
        """Share what the headers said: the fleet paces at most at the quota left over the time
        left (or the policy's own rate), and once the quota is spent holds until its reset (for
        at most ``max_cooldown``). Written at most ten times a second per client."""
        if self._falling_back:
            if self._local is not None:
                self._local.on_rate_headers(ticket, hints)
            return
        now = self._clock()
        spent = hints.remaining <= 0
        if self._closed or (not spent and now - self._quota_written < _QUOTA_EVERY):
            return
        self._quota_written = now
        reset = max(hints.reset, 0.001)
        rate = max(hints.remaining, 0) / reset
        if hints.limit is not None and hints.window:
            rate = max(rate, hints.limit / hints.window)
        rate = max(rate, self._config.min_per_second)
        hold = 0.0
        if spent:
            hold = min(reset, hints.window or math.inf, self._config.max_cooldown)
            self._cooldown_until = max(self._cooldown_until, now + hold)
        args = (repr(rate), math.ceil(reset * _MICROS), math.ceil(hold * _MICROS), self._idle)
        self._spawn(self._share_quota(args))

    async def _share_quota(self, args: tuple[str | int, ...]) -> None:
        try:
            await self._quota_script(keys=(self._key,), args=args)
        except self._errors as error:
            self._lost("share what rate-limit headers said", error)

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
            raise RuntimeError("this RedisLimiter was closed during the call") from error
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
            grace = math.ceil(self._config.reconnect_interval * _MICROS) + _MICROS
            rate = self._shared_rate if self._config.is_adaptive and self._shared_rate else 0.0
            await self._rejoin_script(keys=(self._key,), args=(grace, repr(rate), self._idle))
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
        """Finish sharing pending cool-downs (for at most ``timeout``), then close the pool."""
        if self._closed:
            return
        self._closed = True
        if self._probe is not None:
            self._probe.cancel()
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=self._config.timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._pool.disconnect()  # the pool is ours, not the Redis object's
        if self._local is not None:
            await self._local.aclose()

"""A rate limit shared through Redis by every client, process and machine that names it.

:class:`RedisRateLimit` is the configuration (pass it as ``AsyncClient(rate_limit=...)``);
:class:`RedisLimiter` is what each client paces its requests with: every decision about the
shared schedule is taken in Redis by the scripts of ``_redis_lua``; the limiter sends them,
sleeps, falls back to a :class:`~._ratelimit.LocalLimiter` while Redis is unreachable, and
brings the calls queued there back to the shared schedule when it returns. ``redis`` is
imported only when a limiter is made, so the package works without the optional ``redis``
extra.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import warnings
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from . import _redis_lua as lua
from ._config import Clock, RateLimit, Sleep, _positive
from ._exceptions import ConfigurationError, RateLimiterUnavailableError, redact
from ._models import Priority
from ._quota import fleet_quota
from ._ratelimit import BULK, INTERACTIVE, Limiter, LimiterFactory, LocalLimiter, NoTurnInTime
from ._redis_url import check_url, connection_pool, redact_url, url_repr, url_secrets
from ._validate import positive_int
from ._wire import RateHints

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["RedisLimiter", "RedisRateLimit"]

logger = logging.getLogger("yourgpt_async")

_MICROS: Final = 1_000_000
_POOL_SIZE: Final = 8  # connections per client; each command holds one for ~0.1 ms
_COALESCE: Final = 0.001  # a 429 that extends the known cool-down by less is not written again
_FLUSH_DELAY: Final = 0.01  # during a pause, successes are told to Redis in batches this far apart
_INCREASE: Final = 0.1  # as RateLimit's: the rate set at a decrease, added back per second
_DECREASE: Final = 0.9  # as RateLimit's: the share of the accepted rate kept after a 429
_QUOTA_EVERY: Final = 0.1  # seconds between two writes of what rate-limit headers said
_BOOKINGS: Final = 4096  # reservations remembered until their request is reported
_IDLE_MS: Final = 60_000  # the shared state expires after this long unused (or max_cooldown)
# Statuses of the acquire script.
_GO, _LATER, _PAST_DEADLINE, _COOLED, _COOLDOWN_PAST_DEADLINE = range(5)


@attrs.frozen
class RedisRateLimit(LimiterFactory):
    """One request budget shared through Redis by every client that names it.

    A YourGPT rate limit belongs to the API key, not to a process. Give every client of the
    key, in any process on any machine, the same settings (``url``, ``name``, ``per_second``,
    ``burst``...), and together they keep to one budget::

        limit = RedisRateLimit("redis://redis:6379/0", name="project-1", per_second=20)
        async with AsyncClient(rate_limit=limit) as yg:
            ...

    Told ``per_second`` (and the service's ``burst``, if known), the fleet keeps 1 % under it
    and leaves three quarters of the burst unused, as :class:`RateLimit` does; a 429 drops the
    burst and 3 % more. Without ``per_second`` the fleet finds the service's limit together:
    it starts at ``initial_per_second``, speeds up while callers wait and the service accepts,
    and on a 429 lowers the shared rate to just under what the service accepted, probing
    higher again only as often as the pauses a failed probe would cost allow (about 3 % of the
    time). With ``per_second`` and ``adaptive=True``, ``per_second`` is the ceiling.

    How it works: one Lua script, one round trip per request, keeps a GCRA schedule (a token
    bucket's equivalent) and the adaptive rate in one Redis hash, in server time
    (``redis.call('TIME')``), so the clients' clocks never matter. Each request reserves the
    next free slot and sleeps until it; one that waited checks the shared cool-down once more
    before it goes. A 429 (or 503) seen by any client starts a cool-down every client honours
    (capped at ``max_cooldown``), and the schedule resumes after it without a burst.
    Rate-limit headers, where the service sends them, cap the shared pace too.

    Priorities hold across the fleet: a bulk call (``send_many``'s, by default) reserves a
    slot only when it is at most two turns away, so the schedule never fills up with bulk
    calls and an interactive call anywhere in the fleet waits at most about two turns; while
    interactive calls keep the schedule full, every tenth turn still goes to bulk.

    A call cancelled while it waits leaves its reserved slot to no one: the fleet sends a little
    less than its rate at that moment, never more.

    When Redis cannot be reached (every command has ``timeout`` to connect and to answer, with
    no retries, so nothing hangs), ``on_redis_error`` decides:

    - ``"local"`` (the default): the client paces itself alone at its share,
      ``per_second / expected_clients`` (without ``per_second``: the shared rate last seen,
      divided the same way), adapting to 429s. The first fall-back of a limiter is reported
      with a :class:`RuntimeWarning`, later ones and the return to Redis in the
      ``yourgpt_async`` log. Every ``reconnect_interval`` seconds it tries Redis again in the
      background; once Redis answers, the calls it queued locally re-join the shared
      schedule. Until every client has had time to come back (``reconnect_interval``), the
      shared rate is cut to the share of the clients already back, since the others still
      send at theirs: the fleet never goes over its rate while it re-forms.
    - ``"fail"``: the call raises :class:`~yourgpt_async.RateLimiterUnavailableError` before
      anything is sent, so nothing is delivered and retrying later is safe.

    Attributes:
        url: The Redis server, e.g. ``redis://:password@host:6379/0``, ``rediss://...`` or
            ``unix:///run/redis.sock``. The password never appears in a repr, log or error.
        name: The budget's name: the same for every client of one API key (for instance the
            project id; never the key itself).
        per_second: Requests per second for all the clients together, or ``None`` to find
            the service's limit together.
        burst: The service's burst allowance, if known (a quarter of it is used).
        adaptive: Whether 429s lower the rate; defaults to on when ``per_second`` is ``None``.
        initial_per_second: Where the shared adaptive rate starts.
        min_per_second: The shared adaptive rate never drops below this.
        max_cooldown: The longest one 429's ``Retry-After`` holds the fleet, in seconds.
        on_redis_error: ``"local"`` or ``"fail"``: what to do while Redis is unreachable.
        expected_clients: How many clients usually share the budget; while falling back, each
            paces itself at its share. 1 (the default) keeps the whole rate, relying on the
            adaptive decrease if several clients fall back at once.
        timeout: Seconds each Redis command may take to connect and to answer.
        reconnect_interval: Seconds between attempts to reach Redis again while falling back.
        prefix: The start of the Redis key, ``<prefix>:{<name>}`` (a hash; it expires when
            the budget is idle for a minute, or ``max_cooldown`` if longer).
        clock: The monotonic clock (tests pass a fake one).
        sleep: The coroutine used to wait (tests pass a fake one).

    Raises:
        ConfigurationError: A setting is invalid; or, when a client is made with it, the
            ``redis`` extra is not installed.
    """

    url: str = attrs.field(repr=url_repr)
    name: str = attrs.field(kw_only=True)
    per_second: float | None = attrs.field(default=None, kw_only=True)
    burst: int = attrs.field(default=1, kw_only=True)
    adaptive: bool | None = attrs.field(default=None, kw_only=True)
    initial_per_second: float = attrs.field(default=20.0, kw_only=True)
    min_per_second: float = attrs.field(default=0.5, kw_only=True)
    max_cooldown: float = attrs.field(default=30.0, kw_only=True)
    on_redis_error: Literal["local", "fail"] = attrs.field(default="local", kw_only=True)
    expected_clients: int = attrs.field(default=1, kw_only=True)
    timeout: float = attrs.field(default=0.5, kw_only=True)
    reconnect_interval: float = attrs.field(default=5.0, kw_only=True)
    prefix: str = attrs.field(default="yourgpt-async", kw_only=True)
    clock: Clock = attrs.field(default=time.monotonic, kw_only=True, repr=False)
    sleep: Sleep = attrs.field(default=asyncio.sleep, kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        check_url(self.url)
        for field in ("name", "prefix"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(
                    f"RedisRateLimit.{field} must be a non-empty str, got {value!r}"
                )
        _positive("RedisRateLimit.per_second", self.per_second, allow_none=True)
        for field in ("burst", "expected_clients"):
            positive_int(f"RedisRateLimit.{field}", getattr(self, field))
        if self.adaptive not in (None, True, False):
            raise ConfigurationError(
                f"RedisRateLimit.adaptive must be True, False or None, got {self.adaptive!r}"
            )
        if self.on_redis_error not in ("local", "fail"):
            raise ConfigurationError(
                "RedisRateLimit.on_redis_error must be 'local' or 'fail', "
                f"got {self.on_redis_error!r}"
            )
        rates = ("initial_per_second", "min_per_second")
        for field in (*rates, "max_cooldown", "timeout", "reconnect_interval"):
            _positive(f"RedisRateLimit.{field}", getattr(self, field))

    @property
    def is_adaptive(self) -> bool:
        """Whether the shared rate adapts to 429s (``adaptive``, or its default)."""
        return self.per_second is None if self.adaptive is None else self.adaptive

    @property
    def fallback(self) -> RateLimit:
        """The in-process limit each client keeps to while Redis is unreachable (before the
        fleet has learnt a rate: see :meth:`fallback_at`)."""
        return self.fallback_at(None)

    def fallback_at(self, shared_rate: float | None) -> RateLimit:
        """The in-process limit while Redis is unreachable, ``shared_rate`` being the fleet's
        rate last seen (``None`` if none): this client's share of it, adapting to 429s."""
        whole = self.per_second
        if whole is None or (shared_rate is not None and self.is_adaptive):
            whole = shared_rate if shared_rate is not None else self.initial_per_second
        share = whole / self.expected_clients
        return RateLimit(
            per_second=share,
            burst=max(1, self.burst // self.expected_clients),
            adaptive=True,
            initial_per_second=share,
            min_per_second=min(self.min_per_second, share),
            max_cooldown=self.max_cooldown,
            clock=self.clock,
            sleep=self.sleep,
        )

    def make_limiter(self) -> Limiter:
        """Make the limiter one client uses (no connection is opened until the first request).

        Raises:
            ConfigurationError: The ``redis`` extra is not installed, or Redis refuses the URL.
        """
        return RedisLimiter(self)


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
        self._config = config
        self._clock: Clock = config.clock
        self._sleep: Sleep = config.sleep
        self._url = redact_url(config.url)
        self._secrets = url_secrets(config.url)
        self._key = f"{config.prefix}:{{{config.name}}}"  # a hash tag: one Redis Cluster slot
        self._idle = str(max(_IDLE_MS, math.ceil(config.max_cooldown * 1000) + 1000))
        self._settings = (
            repr(float(config.per_second or 0)),
            "1" if config.is_adaptive else "0",
            str(config.burst),
            repr(config.initial_per_second),
            repr(config.min_per_second),
            repr(_INCREASE),
        )
        self._pool, self._errors = connection_pool(
            config.url, config.timeout, _POOL_SIZE, self._secrets
        )
        from redis.asyncio import Redis

        self._redis = Redis(connection_pool=self._pool)
        self._acquire_script: AsyncScript = self._redis.register_script(lua.ACQUIRE)
        self._throttle_script: AsyncScript = self._redis.register_script(lua.THROTTLE)
        self._quota_script: AsyncScript = self._redis.register_script(lua.QUOTA)
        self._rejoin_script: AsyncScript = self._redis.register_script(lua.REJOIN)
        self._local: LocalLimiter | None = None  # the fall-back, while in use
        self._bulk_gate = asyncio.Lock()  # one bulk caller of this client asks Redis at a time
        self._gate = asyncio.Lock()  # ... and one interactive caller, when the rate is learnt
        self._cooldown_until = -math.inf  # on self._clock: the latest 429 this client saw
        self._offset = 0.0  # Redis's clock (s) less ours, as of the last answer
        self._shared_rate: float | None = None  # the fleet's rate as of the last answer
        self._quota_written = -math.inf
        self._booked: dict[float, int] = {}  # ticket -> when it was sent (Redis µs)
        # Successes since the last acquire script, which reports them (adaptive): when each
        # request was sent, µs of Redis's clock (0 if not known).
        self._successes: list[int] = []
        self._flush: asyncio.Task[None] | None = None  # reporting them during a pause
        self._falling_back = False
        self._epoch = 0  # how many times Redis was lost
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
                    ticket = self._clock()
                    self._note_booking(ticket)
                    return ticket
            except _Rejoin:
                continue  # Redis was lost before a slot was reserved: ask the fall-back
            except self._errors as error:
                self._fall_back(error)

    async def _acquire_shared(self, deadline: float, priority: Priority) -> bool:
        """Reserve a slot, sleep until it and confirm it; ``False`` if a cool-down began
        meanwhile (or Redis was lost), so that the caller must queue again."""
        self._hold_for_own_cooldown(deadline)
        pause = self._cooldown_until - self._clock()
        if pause > 0:  # a 429 this client saw: its write to Redis may still be under way
            await self._sleep(pause)
        epoch = self._epoch
        if priority is BULK:
            async with self._bulk_gate:
                wait = await self._reserve(deadline, priority)
        elif self._config.is_adaptive:  # no reservation far ahead: one asks at a time
            async with self._gate:
                wait = await self._reserve(deadline, priority)
        else:
            wait = await self._reserve(deadline, priority)
        if wait <= 0:
            return True
        await self._sleep(wait)
        if self._falling_back or self._epoch != epoch:
            # Redis was lost meanwhile: the slot may be lost with it (a restarted Redis knows
            # nothing of it), so queue again, locally or in Redis as it is now.
            return False
        status, _ = await self._run_acquire("c", priority, -1)
        return status == _GO

    def _note_booking(self, ticket: float) -> None:
        """Remember when the request of ``ticket`` was sent, on Redis's clock (as of the last
        answer): a 429 for a request sent before the last decrease says nothing new (it was
        paced at the old rate), and a success counts in the span it was sent in."""
        log = self._booked
        log[ticket] = math.floor((ticket + self._offset) * _MICROS)
        if len(log) > _BOOKINGS:
            for old in list(itertools.islice(log, len(log) // 2)):
                del log[old]

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
            status, micros = await self._run_acquire("r", priority, budget)
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

    async def _run_acquire(self, mode: str, priority: Priority, budget: int) -> tuple[int, int]:
        """One round trip of the acquire script: its status and µs (Redis's time, which it
        also answers, maps our clock onto Redis's)."""
        rank = "b" if priority is BULK else "i"
        successes, self._successes = self._successes, []
        settings = (*self._settings, self._config.expected_clients, self._idle)
        args: tuple[str | int, ...] = (mode, rank, budget, *settings, len(successes), *successes)
        reply = await self._acquire_script(keys=(self._key,), args=args)
        status, micros, now, rate = reply
        self._offset = int(now) / _MICROS - self._clock()
        if mode == "r":
            self._shared_rate = float(rate)
        return int(status), int(micros)

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
        booked = self._booked.pop(ticket, 0)
        if self._falling_back and self._local is not None:
            self._local.on_success(ticket)
        elif self._config.is_adaptive:
            self._successes.append(booked)  # told to Redis with this client's next acquire
            if self._flush is None and self._clock() < self._cooldown_until:
                # ... or at once, during a 429's pause: replies it overtook still count
                # towards what the service accepted, before sending resumes.
                self._flush = self._spawn(self._report_successes())

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
            sent_at = self._booked.pop(ticket, None)
            if sent_at is None:
                sent_at = math.floor((ticket + self._offset) * _MICROS)
            self._spawn(self._share_throttle(pause, sent_at))

    async def _report_successes(self) -> None:
        """Tell Redis the successes seen so far, reserving nothing (during a pause)."""
        await self._sleep(_FLUSH_DELAY)  # gather the replies arriving together
        self._flush = None
        if not self._falling_back and self._successes:
            await self._background("report successes", self._run_acquire("n", INTERACTIVE, -1))

    async def _background(self, what: str, work: Awaitable[object]) -> None:
        """Await a write of a background task; if Redis fails it, see :meth:`_lost`."""
        try:
            await work
        except self._errors as error:
            self._lost(what, error)

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
        config = self._config
        rate, reset, hold = fleet_quota(hints, config.min_per_second, config.max_cooldown)
        self._cooldown_until = max(self._cooldown_until, now + hold)
        args = (repr(rate), math.ceil(reset * _MICROS), math.ceil(hold * _MICROS), self._idle)
        quota = self._quota_script(keys=(self._key,), args=args)
        self._spawn(self._background("share what rate-limit headers said", quota))

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

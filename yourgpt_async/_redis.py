"""A rate limit shared through Redis by every client, process and machine that names it.

:class:`RedisRateLimit` is the configuration (pass it as ``AsyncClient(rate_limit=...)``);
:class:`RedisLimiter` is what each client paces its requests with. ``redis`` is imported only
when a limiter is made, so the package works without the optional ``redis`` extra.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import urllib.parse
import warnings
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from ._config import Clock, RateLimit, Sleep, _positive
from ._exceptions import ConfigurationError, RateLimiterUnavailableError, redact
from ._ratelimit import Limiter, LimiterFactory, LocalLimiter

if TYPE_CHECKING:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.commands.core import AsyncScript

__all__ = ["RedisLimiter", "RedisRateLimit"]

logger = logging.getLogger("yourgpt_async")

_SCHEMES: Final = ("redis", "rediss", "unix")
_MICROS: Final = 1_000_000
_POOL_SIZE: Final = 8  # connections per client; each command holds one for ~0.1 ms
_COALESCE: Final = 0.001  # a 429 that extends the known cool-down by less is not written again

# Reserve a send slot of a GCRA budget kept in server time, or confirm one after its wait.
# KEYS[1]: the theoretical arrival time (TAT) in µs; KEYS[2]: the end of the cool-down in µs.
# ARGV[1]: µs between requests; ARGV[2]: the burst tolerance in µs; ARGV[3]: "1" to reserve,
# "0" to confirm (send now unless a cool-down began meanwhile, else reserve anew).
# Returns the µs to wait before sending; 0 means send now.
_ACQUIRE_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cooldown = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[3] == '0' and cooldown <= now then
  return 0
end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = now
if cooldown > now then
  floor = cooldown + tolerance
end
if tat < floor then
  tat = floor
end
local send = tat - tolerance
if send < now then
  send = now
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return math.ceil(send - now)
"""

# Start or extend the shared cool-down after a 429, and move the TAT past it so that no burst
# follows it. KEYS as above; ARGV[1]: the wait in µs; ARGV[2]: the burst tolerance in µs.
_THROTTLE_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = tonumber(ARGV[1])
local ends = now + wait
local cooldown = tonumber(redis.call('GET', KEYS[2]) or '0')
if ends > cooldown then
  redis.call('SET', KEYS[2], string.format('%.0f', ends), 'PX', math.ceil(wait / 1000) + 1)
end
local floor = ends + tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < floor then
  redis.call('SET', KEYS[1], string.format('%.3f', floor), 'PX',
    math.ceil((floor - now) / 1000) + 1000)
end
return 0
"""


# A password given in the query string, which redis-py reads too: `?password=...`.
_QUERY_PASSWORD: Final = re.compile(r"(?i)([?&](?:password|pass|passwd|pwd)=)([^&#]*)")


def redact_url(url: str) -> str:
    """Return ``url`` with its password (if any) replaced by ``***``: the one in the user info
    (``redis://:pw@host``) and one given in the query (``?password=pw``)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable Redis URL>"
    if parts.password is not None:
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        url = urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    return _QUERY_PASSWORD.sub(r"\1***", url)


def url_secrets(url: str) -> tuple[str, ...]:
    """The passwords in ``url``, as written and decoded, to scrub from any text."""
    try:
        found = [urllib.parse.urlsplit(url).password or ""]
    except ValueError:
        found = []
    found += [match.group(2) for match in _QUERY_PASSWORD.finditer(url)]
    found += [urllib.parse.unquote(value) for value in found]
    return tuple(sorted({value for value in found if value}, key=len, reverse=True))


def _check_url(url: object) -> None:
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"RedisRateLimit.url must be a non-empty str, got {url!r}")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigurationError(
            f"RedisRateLimit.url is not a valid URL: {redact_url(url)!r}"
        ) from None
    if parts.scheme not in _SCHEMES or not (parts.hostname or parts.path):
        raise ConfigurationError(
            "RedisRateLimit.url must look like redis://host:6379/0, rediss://... or "
            f"unix:///path/to/redis.sock, got {redact_url(url)!r}"
        )


def _url_repr(url: str) -> str:
    return repr(redact_url(url))


@attrs.frozen
class RedisRateLimit(LimiterFactory):
    """One request budget shared through Redis by every client that names it.

    A YourGPT rate limit belongs to the API key, not to a process. Give every client of the
    key, in any process on any machine, the same ``url``, ``name``, ``per_second`` and
    ``burst``, and together they send no faster than ``per_second``::

        limit = RedisRateLimit("redis://redis:6379/0", name="project-1", per_second=20)
        async with AsyncClient(rate_limit=limit) as yg:
            ...

    How it works: one Lua script, one round trip per request, keeps a GCRA schedule (a token
    bucket's equivalent) in server time (``redis.call('TIME')``), so the clients' clocks never
    matter. Each request reserves the next free slot and sleeps until it. A request that had to
    wait reads the shared cool-down once more before it goes (a second round trip, only when it
    waited), so a 429 seen anywhere holds back requests already scheduled. A 429 (or 503) with
    ``Retry-After`` seen by any client starts a cool-down every client honours, and the
    schedule resumes after it without a burst.

    A call cancelled while it waits leaves its reserved slot to no one: the fleet sends a little
    less than ``per_second`` at that moment, never more.

    When Redis cannot be reached (every command has ``timeout`` to connect and to answer, with
    no retries, so nothing hangs), ``on_redis_error`` decides:

    - ``"local"`` (the default): the client paces itself alone, as
      ``RateLimit(per_second=per_second / expected_clients, adaptive=True)`` would, so it keeps
      sending and lowers its rate if the service answers 429. The first fall-back of a limiter
      is reported with a :class:`RuntimeWarning`, later ones and the return to Redis in the
      ``yourgpt_async`` log. Every ``reconnect_interval`` seconds it tries Redis again in the
      background, and uses it again as soon as it answers.
    - ``"fail"``: the call raises :class:`~yourgpt_async.RateLimiterUnavailableError` before
      anything is sent, so nothing is delivered and retrying later is safe.

    Attributes:
        url: The Redis server, e.g. ``redis://:password@host:6379/0``, ``rediss://...`` or
            ``unix:///run/redis.sock``. The password never appears in a repr, log or error.
        name: The budget's name: the same for every client of one API key (for instance the
            project id; never the key itself).
        per_second: Requests per second for all the clients together.
        burst: Requests that may go at once above the rate. Keep the default of 1 unless the
            service's own burst allowance is known: it then stays unused as a margin for
            network jitter.
        on_redis_error: ``"local"`` or ``"fail"``: what to do while Redis is unreachable.
        expected_clients: How many clients usually share the budget; while falling back, each
            paces itself at ``per_second / expected_clients``. 1 (the default) keeps the whole
            rate, relying on the adaptive decrease if several clients fall back at once.
        timeout: Seconds each Redis command may take to connect and to answer.
        reconnect_interval: Seconds between attempts to reach Redis again while falling back.
        prefix: The start of the Redis keys (``<prefix>:{<name>}:tat`` and
            ``<prefix>:{<name>}:cooldown``; both expire when idle).
        clock: The monotonic clock (tests pass a fake one).
        sleep: The coroutine used to wait (tests pass a fake one).

    Raises:
        ConfigurationError: A setting is invalid; or, when a client is made with it, the
            ``redis`` extra is not installed.
    """

    url: str = attrs.field(repr=_url_repr)
    name: str = attrs.field(kw_only=True)
    per_second: float = attrs.field(kw_only=True)
    burst: int = attrs.field(default=1, kw_only=True)
    on_redis_error: Literal["local", "fail"] = attrs.field(default="local", kw_only=True)
    expected_clients: int = attrs.field(default=1, kw_only=True)
    timeout: float = attrs.field(default=0.5, kw_only=True)
    reconnect_interval: float = attrs.field(default=5.0, kw_only=True)
    prefix: str = attrs.field(default="yourgpt-async", kw_only=True)
    clock: Clock = attrs.field(default=time.monotonic, kw_only=True, repr=False)
    sleep: Sleep = attrs.field(default=asyncio.sleep, kw_only=True, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_url(self.url)
        for field in ("name", "prefix"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(
                    f"RedisRateLimit.{field} must be a non-empty str, got {value!r}"
                )
        _positive("RedisRateLimit.per_second", self.per_second)
        for field in ("burst", "expected_clients"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"RedisRateLimit.{field} must be an int of at least 1, got {value!r}"
                )
        if self.on_redis_error not in ("local", "fail"):
            raise ConfigurationError(
                "RedisRateLimit.on_redis_error must be 'local' or 'fail', "
                f"got {self.on_redis_error!r}"
            )
        _positive("RedisRateLimit.timeout", self.timeout)
        _positive("RedisRateLimit.reconnect_interval", self.reconnect_interval)

    @property
    def fallback(self) -> RateLimit:
        """The in-process limit each client keeps to while Redis is unreachable."""
        share = self.per_second / self.expected_clients
        return RateLimit(
            per_second=share,
            burst=max(1, self.burst // self.expected_clients),
            adaptive=True,
            initial_per_second=share,
            min_per_second=min(0.5, share),
            clock=self.clock,
            sleep=self.sleep,
        )

    def make_limiter(self) -> Limiter:
        """Make the limiter one client uses (no connection is opened until the first request).

        Raises:
            ConfigurationError: The ``redis`` extra is not installed, or Redis refuses the URL.
        """
        return RedisLimiter(self)


class RedisLimiter(Limiter):
    """One client's view of a :class:`RedisRateLimit`: reserves its slots in Redis.

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
        interval = _MICROS / config.per_second
        self._interval = repr(interval)
        self._tolerance = repr((config.burst - 1) * interval)
        tag = "{" + config.name + "}"  # a hash tag: both keys in one Redis Cluster slot
        self._keys = (f"{config.prefix}:{tag}:tat", f"{config.prefix}:{tag}:cooldown")
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
        self._acquire_script: AsyncScript = self._redis.register_script(_ACQUIRE_LUA)
        self._throttle_script: AsyncScript = self._redis.register_script(_THROTTLE_LUA)
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)
        self._local = LocalLimiter(config.fallback)
        self._cooldown_until = -math.inf  # on self._clock: the latest 429 this client saw
        self._falling_back = False
        self._warned = False
        self._next_probe = -math.inf
        self._probe: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __repr__(self) -> str:
        mode = "closed" if self._closed else "local" if self._falling_back else "shared"
        return f"<RedisLimiter url={self._url!r} name={self._config.name!r} {mode}>"

    @property
    def shared(self) -> bool:
        """Whether requests are paced through Redis now (``False`` while falling back)."""
        return not self._falling_back

    async def acquire(self) -> float:
        """Wait for this request's slot in the shared schedule (the local one while falling back).

        Returns:
            The grant time on the limiter's clock, the ticket for the report.

        Raises:
            RateLimiterUnavailableError: Redis is unreachable and ``on_redis_error="fail"``.
            RuntimeError: The limiter was closed.
        """
        if self._closed:
            raise RuntimeError("this RedisLimiter is closed")
        if self._falling_back:
            self._maybe_probe()
            return await self._local.acquire()
        reserve = True
        while True:
            # A 429 this client saw: the write to Redis may still be under way.
            pause = self._cooldown_until - self._clock()
            if pause > 0:
                await self._sleep(pause)
                reserve = True  # any slot reserved before it is void: queue again
                continue
            try:
                wait = await self._run_acquire(reserve)
            except self._errors as error:
                self._fall_back(error)
                return await self._local.acquire()
            if wait <= 0:
                return self._clock()
            await self._sleep(wait)
            if self._falling_back:  # Redis was lost meanwhile: don't wait on it again
                return await self._local.acquire()
            reserve = False

    async def _run_acquire(self, reserve: bool) -> float:
        """One round trip: reserve (or confirm) a slot; return the seconds to wait first."""
        args = (self._interval, self._tolerance, "1" if reserve else "0")
        micros = await self._acquire_script(keys=self._keys, args=args)
        return int(micros) / _MICROS

    def on_success(self, ticket: float) -> None:
        """Count the success towards the local fall-back's measured rate, while it is in use."""
        if self._falling_back:
            self._local.on_success(ticket)

    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        """Start the cool-down here at once, and in Redis for every other client."""
        if self._falling_back:
            self._local.on_throttled(ticket, retry_after)
        if retry_after is None or retry_after <= 0:
            return
        ends = self._clock() + retry_after
        if ends <= self._cooldown_until + _COALESCE:
            return  # already shared, or about to be
        self._cooldown_until = ends
        if not self._falling_back and not self._closed:
            self._spawn(self._share_cooldown(retry_after))

    async def _share_cooldown(self, retry_after: float) -> None:
        try:
            await self._throttle_script(
                keys=self._keys, args=(repr(retry_after * _MICROS), self._tolerance)
            )
        except self._errors as error:
            if self._closed or self._config.on_redis_error == "fail":
                logger.warning(
                    "could not share a 429 cool-down through Redis %s (%s)",
                    self._url,
                    self._text(error),
                )
            else:
                self._fall_back(error)

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
        fallback = self._config.fallback
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
            await self._redis.ping()
        except self._errors as error:
            self._next_probe = self._clock() + self._config.reconnect_interval
            logger.debug("Redis %s still unreachable (%s)", self._url, self._text(error))
        else:
            self._falling_back = False
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
        await self._local.aclose()

"""A rate limit shared through Redis by every client, process and machine that names it.

:class:`RedisRateLimit` is the configuration (pass it as ``AsyncClient(rate_limit=...)``); the
:class:`~._fleet.RedisLimiter` it makes is what each client paces its requests with. ``redis``
is imported only when a limiter is made, so the package works without the optional ``redis``
extra.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import attrs

from .._config import Clock, RateLimit, Sleep, _positive
from .._exceptions import ConfigurationError
from .._validate import positive_int
from ._fleet import RedisLimiter
from ._limiter import Limiter, LimiterFactory
from ._redis_url import check_url, url_repr

__all__ = ["RedisRateLimit"]


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

    How it works (the fleet guide says more): one Lua script, one round trip per request,
    reserves the next free slot of a GCRA schedule kept in one Redis hash on Redis's clock,
    with the adaptive rate, whose rules are the in-process limiter's, transcribed. A 429 seen
    by any client starts a cool-down every client honours (capped at ``max_cooldown``), with
    no burst after it; rate-limit headers cap the shared pace too. A bulk call reserves a slot
    only when it is at most a turn away, so an interactive call anywhere in the fleet waits
    at most about two turns; bulk still gets every tenth turn.

    When Redis cannot be reached (every command has ``timeout`` to connect and to answer, with
    no retries), ``on_redis_error`` decides:

    - ``"local"`` (the default): the client paces itself alone at its share,
      ``per_second / expected_clients`` (or of the shared rate last seen), adapting to 429s,
      with a :class:`RuntimeWarning` the first time. Every ``reconnect_interval`` seconds it
      tries Redis again; once back, its queued calls re-join the shared schedule, which keeps
      to the share of the clients already back until all have had time to return.
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
        clock: The clock the shared schedule is kept on, in seconds. ``None`` (the default):
            Redis's own, so that the clients' clocks never matter. Tests pass a virtual one,
            and every client sharing the ``name`` must then be given the same.
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
    clock: Clock | None = attrs.field(default=None, kw_only=True, repr=False)
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
            clock=self.clock or time.monotonic,
            sleep=self.sleep,
        )

    def make_limiter(self) -> Limiter:
        """Make the limiter one client uses (no connection is opened until the first request).

        Raises:
            ConfigurationError: The ``redis`` extra is not installed, or Redis refuses the URL.
        """
        return RedisLimiter(self)

"""A rate limit shared through Redis by every client, process and machine that names it.

:class:`RedisRateLimit` is the configuration (pass it as ``AsyncClient(rate_limit=...)``);
:class:`~._redis_limiter.RedisLimiter` is what each client paces its requests with. ``redis``
is imported only when a limiter is made, so the package works without the optional ``redis``
extra.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from typing import Final, Literal

import attrs

from ._config import Clock, RateLimit, Sleep, _positive
from ._exceptions import ConfigurationError
from ._ratelimit import Limiter, LimiterFactory

__all__ = ["RedisRateLimit", "redact_url", "url_secrets"]

_SCHEMES: Final = ("redis", "rediss", "unix")


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

    url: str = attrs.field(repr=_url_repr)
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
        _check_url(self.url)
        for field in ("name", "prefix"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(
                    f"RedisRateLimit.{field} must be a non-empty str, got {value!r}"
                )
        _positive("RedisRateLimit.per_second", self.per_second, allow_none=True)
        for field in ("burst", "expected_clients"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"RedisRateLimit.{field} must be an int of at least 1, got {value!r}"
                )
        if self.adaptive not in (None, True, False):
            raise ConfigurationError(
                f"RedisRateLimit.adaptive must be True, False or None, got {self.adaptive!r}"
            )
        if self.on_redis_error not in ("local", "fail"):
            raise ConfigurationError(
                "RedisRateLimit.on_redis_error must be 'local' or 'fail', "
                f"got {self.on_redis_error!r}"
            )
        for field in (
            "initial_per_second",
            "min_per_second",
            "max_cooldown",
            "timeout",
            "reconnect_interval",
        ):
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
        from ._redis_limiter import RedisLimiter

        return RedisLimiter(self)

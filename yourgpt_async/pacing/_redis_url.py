"""Redis URLs: checked when a :class:`~yourgpt_async.RedisRateLimit` is made, shown with the
password replaced by ``***`` everywhere, and opened as a connection pool."""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from typing import TYPE_CHECKING, Final

from .._exceptions import ConfigurationError, redact

if TYPE_CHECKING:
    from redis.asyncio import BlockingConnectionPool

__all__ = ["check_url", "connection_pool", "redact_url", "redis_errors", "url_repr", "url_secrets"]

_SCHEMES: Final = ("redis", "rediss", "unix")

# A password given in the query string, which redis-py reads too: `?password=...`.
_QUERY_PASSWORD: Final = re.compile(r"(?i)([?&](?:password|pass|passwd|pwd)=)([^&#]*)")


def _userinfo(url: str) -> str | None:
    """The user info as written: everything between ``//`` and the last ``@``, even where a
    reserved character in it (``#``, ``?``, ``/``) would end it for a URL parser; ``None``
    without an ``@``. (An ``@`` further on, in a query, makes it longer: shown, it hides more.)"""
    _, slashes, rest = url.partition("//")
    if not slashes or "@" not in rest:
        return None
    return rest.rpartition("@")[0]


def redact_url(url: str) -> str:
    """Return ``url`` with its password (if any) replaced by ``***``: the one in the user info
    (``redis://:pw@host``), whatever characters it holds, and one given in the query
    (``?password=pw``)."""
    userinfo = _userinfo(url)
    if userinfo is not None and ":" in userinfo:
        user = userinfo.partition(":")[0]
        scheme, _, rest = url.partition("//")
        url = f"{scheme}//{user}:***@{rest.rpartition('@')[2]}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


def url_secrets(url: str) -> tuple[str, ...]:
    """The passwords in ``url``, as written and decoded, and as a URL parser would cut them,
    to scrub from any text."""
    try:
        found = [urllib.parse.urlsplit(url).password or ""]
    except ValueError:
        found = []
    userinfo = _userinfo(url)
    if userinfo is not None and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    found += [match.group(2) for match in _QUERY_PASSWORD.finditer(url)]
    found += [urllib.parse.unquote(value) for value in found]
    return tuple(sorted({value for value in found if value}, key=len, reverse=True))


def check_url(url: object) -> None:
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"RedisRateLimit.url must be a non-empty str, got {url!r}")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    userinfo = _userinfo(url)
    if userinfo is not None and (parts is None or userinfo != parts.netloc.rpartition("@")[0]):
        raise ConfigurationError(
            "RedisRateLimit.url has an '@' after a '#', '?' or '/', so its password cannot be "
            "read as written: a password holding those must be percent-encoded (%23, %3F, %2F; "
            "urllib.parse.quote(password, safe='') does it), as must an '@' elsewhere (%40): "
            f"{redact_url(url)!r}"
        )
    if parts is None:
        raise ConfigurationError(f"RedisRateLimit.url is not a valid URL: {redact_url(url)!r}")
    if parts.scheme not in _SCHEMES or not (parts.hostname or parts.path):
        raise ConfigurationError(
            "RedisRateLimit.url must look like redis://host:6379/0, rediss://... or "
            f"unix:///path/to/redis.sock, got {redact_url(url)!r}"
        )


def url_repr(url: str) -> str:
    return repr(redact_url(url))


def connection_pool(
    url: str, timeout: float, size: int, secrets: tuple[str, ...]
) -> tuple[BlockingConnectionPool, tuple[type[BaseException], ...]]:
    """A pool of ``size`` connections to ``url``, and the errors that mean Redis is unreachable.

    A few connections serve any number of waiters: one is held only for a command, never while
    sleeping. Every command has ``timeout`` to connect and to answer, with no retries inside
    redis-py: a dead server costs one timeout.

    Raises:
        ConfigurationError: The ``redis`` extra is not installed, or redis-py refuses the URL.
    """
    try:
        from redis import asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as error:
        raise ConfigurationError(
            "RedisRateLimit needs the redis package: pip install 'yourgpt-async[redis]'"
        ) from error
    try:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=size,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as error:
        raise ConfigurationError(
            f"RedisRateLimit.url {redact_url(url)!r} is not usable: {redact(str(error), secrets)}"
        ) from None
    return pool, redis_errors()


def redis_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean Redis is unreachable (the ``redis`` extra is installed)."""
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError)

"""Redis URLs: checked when a :class:`~yourgpt_async.RedisRateLimit` is made, and shown
with the password replaced by ``***`` everywhere."""

from __future__ import annotations

import re
import urllib.parse
from typing import Final

from ._exceptions import ConfigurationError

__all__ = ["check_url", "redact_url", "url_repr", "url_secrets"]

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


def check_url(url: object) -> None:
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


def url_repr(url: str) -> str:
    return repr(redact_url(url))

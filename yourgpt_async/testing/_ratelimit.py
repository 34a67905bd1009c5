"""The emulator's rate limit: its public settings and the limiter that enforces them.

A limiter answers one question per authenticated request, ``take(key, now)``: may it proceed, and
if not, with which headers is the 429 sent. The emulator only asks and renders the answer, so a
new kind of limit (a fixed or sliding window, another way of saying when to retry) is a new
:class:`Limiter`, chosen in :func:`limiter_for`, with no change to the request cycle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import attrs

__all__ = ["ALLOW", "Decision", "EmulatorRateLimit", "Limiter", "TokenBucket", "limiter_for"]


@attrs.frozen
class EmulatorRateLimit:
    """A token bucket per API key: ``burst`` requests at once, refilled at ``per_second``.

    Attributes:
        per_second: Tokens added per second.
        burst: Bucket capacity (a new key starts with a full bucket).
    """

    per_second: float = attrs.field(validator=attrs.validators.gt(0))
    burst: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen
class Decision:
    """A limiter's answer for one request.

    Attributes:
        allowed: Whether the request may proceed; if not it is answered 429 and not processed.
        headers: The headers of that 429 reply (``Retry-After``, ...).
    """

    allowed: bool
    headers: Mapping[str, str] = attrs.field(factory=dict)


ALLOW = Decision(allowed=True)
"""The answer for a request that may proceed."""


class Limiter(Protocol):
    """What the emulator asks of a rate limit."""

    def take(self, key: str, now: float) -> Decision:
        """Count one request of API key ``key`` at monotonic time ``now`` (seconds)."""
        ...

    def reset(self) -> None:
        """Forget every key's history: each key starts afresh."""
        ...


def _retry_headers(wait: float) -> dict[str, str]:
    """Say when to retry in whole seconds (``Retry-After``) and in milliseconds, rounding up."""
    return {
        "Retry-After": str(max(1, math.ceil(wait))),
        "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
    }


@attrs.define
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """One token bucket per key; a refused request is told how long until the next token."""

    def __init__(self, limit: EmulatorRateLimit) -> None:
        """Enforce ``limit``; every key starts with a full bucket."""
        self._limit = limit
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now: float) -> Decision:
        """Take a token from ``key``'s bucket, or refuse with the wait until there is one."""
        wait = self._take_token(key, now)
        return ALLOW if wait <= 0 else Decision(allowed=False, headers=_retry_headers(wait))

    def reset(self) -> None:
        """Forget every bucket: each key starts full again."""
        self._buckets.clear()

    def _take_token(self, key: str, now: float) -> float:
        """Take a token from the key's bucket; return 0, or the seconds until one is there."""
        limit = self._limit
        bucket = self._buckets.setdefault(key, _Bucket(float(limit.burst), now))
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / limit.per_second


def limiter_for(limit: EmulatorRateLimit | None) -> Limiter | None:
    """Build the limiter that enforces ``limit``; ``None`` (no limit) gives ``None``."""
    return None if limit is None else TokenBucket(limit)

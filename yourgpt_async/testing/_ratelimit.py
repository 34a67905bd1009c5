"""The emulator's rate limit: its public settings and the limiters that enforce them.

A limiter answers one question per authenticated request, ``take(key, now)``: may it proceed, and
with which headers is the reply sent (a 429 when not). The emulator only asks and renders the
answer. Three kinds of server are played, each with its own way of saying when to come back:

- a token bucket per key (``burst`` at once, refilled at ``per_second``), the default;
- fixed windows of ``window`` seconds, each allowing ``per_second * window`` requests;
- a sliding window: at most ``per_second * window`` requests in any ``window`` seconds.

The ``retry_after`` style says how a 429 names its wait, and ``headers`` which rate-limit headers
every answer of a key carries.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from typing import Final, Protocol

import attrs

__all__ = [
    "ALLOW",
    "HEADER_STYLES",
    "KINDS",
    "RETRY_AFTER_STYLES",
    "Decision",
    "EmulatorRateLimit",
    "FixedWindow",
    "Limiter",
    "SlidingWindow",
    "TokenBucket",
    "limiter_for",
]

KINDS: Final = ("token_bucket", "fixed_window", "sliding_window")
"""The kinds of limit the emulator plays."""
RETRY_AFTER_STYLES: Final = ("seconds", "ms", "none", "date")
"""How a 429 says when to retry: ``Retry-After`` in whole seconds (rounded up); that and the
exact ``retry-after-ms``; nothing, with an HTML body (a bare gateway); an HTTP date."""
HEADER_STYLES: Final = ("x-ratelimit", "x-ratelimit-epoch", "ratelimit", "ratelimit-policy")
"""Rate-limit headers on every answer: ``X-RateLimit-Limit/-Remaining/-Reset`` with the reset in
seconds from now or as a Unix time; the IETF draft's ``RateLimit-Limit/-Remaining/-Reset`` with
``RateLimit-Policy``; its later ``RateLimit`` and ``RateLimit-Policy`` pair."""


def _default_burst(limit: EmulatorRateLimit) -> int:
    return max(1, math.ceil(limit.per_second))


@attrs.frozen
class EmulatorRateLimit:
    """A per-API-key rate limit, and how the emulator tells clients about it.

    Attributes:
        per_second: The sustained rate: tokens added per second, or the windows' allowance
            per second.
        burst: The token bucket's capacity (a new key starts with a full bucket); default one
            second's worth. The windows do not use it.
        kind: ``"token_bucket"`` (default), ``"fixed_window"`` (windows of ``window`` seconds,
            each allowing ``per_second * window`` requests, aligned on the wall clock's whole
            seconds) or ``"sliding_window"`` (at most that many in any ``window`` seconds).
        retry_after: How a 429 says when to retry: ``"seconds"`` (default: ``Retry-After`` in
            whole seconds, rounded up, as RFC 9110 writes it), ``"ms"`` (that and the exact
            ``retry-after-ms``), ``"none"`` (no hint, and an HTML body, as a bare gateway
            answers) or ``"date"`` (``Retry-After`` as an HTTP date).
        headers: Rate-limit headers on every answer to the key, or ``None`` (default):
            ``"x-ratelimit"`` (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` in whole
            seconds from now, rounded up), ``"x-ratelimit-epoch"`` (the reset as a Unix time),
            ``"ratelimit"`` (``RateLimit-Limit``, ``-Remaining``, ``-Reset`` and
            ``RateLimit-Policy: L;w=W``) or ``"ratelimit-policy"`` (``RateLimit: "default";
            r=R;t=T`` and ``RateLimit-Policy: "default";q=L;w=W``). The reset is when the
            quota is whole again: the window's end, or when the bucket is full.
        window: The windows' length in seconds (default 1).
    """

    per_second: float = attrs.field(validator=attrs.validators.gt(0))
    burst: int = attrs.field(
        default=attrs.Factory(_default_burst, takes_self=True),
        validator=attrs.validators.gt(0),
    )
    kind: str = attrs.field(
        default="token_bucket", kw_only=True, validator=attrs.validators.in_(KINDS)
    )
    retry_after: str = attrs.field(
        default="seconds", kw_only=True, validator=attrs.validators.in_(RETRY_AFTER_STYLES)
    )
    headers: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=attrs.validators.optional(attrs.validators.in_(HEADER_STYLES)),
    )
    window: float = attrs.field(default=1.0, kw_only=True, validator=attrs.validators.gt(0))

    @property
    def quota(self) -> int:
        """Requests one window allows: ``per_second * window``, at least one."""
        return max(1, round(self.per_second * self.window))


@attrs.frozen
class Decision:
    """A limiter's answer for one request.

    Attributes:
        allowed: Whether the request may proceed; if not it is answered 429 and not processed.
        headers: Headers for the reply: the rate-limit headers, and for a 429 its wait.
        html: Answer the 429 with an HTML page rather than the API's JSON envelope.
    """

    allowed: bool
    headers: Mapping[str, str] = attrs.field(factory=dict)
    html: bool = False


ALLOW = Decision(allowed=True)
"""The answer for a request that may proceed, with no headers to add."""


class Limiter(Protocol):
    """What the emulator asks of a rate limit."""

    def take(self, key: str, now: float) -> Decision:
        """Count one request of API key ``key`` at monotonic time ``now`` (seconds)."""
        ...

    def reset(self) -> None:
        """Forget every key's history: each key starts afresh."""
        ...


@attrs.frozen
class _Count:
    """What a limit made of one request: allowed or not, and the state to report."""

    allowed: bool
    wait: float  # seconds until a request would be allowed again (when refused)
    limit: int
    remaining: int
    reset: float  # seconds until the quota is whole again


def _ceil(seconds: float) -> int:
    # A float a hair above a whole number (0.1 * 30 = 3.0000000000000004) is that number.
    return max(0, math.ceil(round(seconds, 6)))


class _Renderer:
    """Turns a :class:`_Count` into a :class:`Decision` in the limit's styles."""

    def __init__(self, limit: EmulatorRateLimit, wall: Callable[[], float]) -> None:
        self._limit = limit
        self._wall = wall

    def decision(self, count: _Count) -> Decision:
        headers = self._rate_headers(count) if self._limit.headers else {}
        if count.allowed:
            return Decision(allowed=True, headers=headers) if headers else ALLOW
        headers.update(self._retry_headers(count.wait))
        return Decision(allowed=False, headers=headers, html=self._limit.retry_after == "none")

    def _retry_headers(self, wait: float) -> dict[str, str]:
        style = self._limit.retry_after
        seconds = str(max(1, _ceil(wait)))
        if style == "seconds":
            return {"Retry-After": seconds}
        if style == "ms":
            return {"Retry-After": seconds, "retry-after-ms": str(max(1, _ceil(wait * 1000)))}
        if style == "date":
            # HTTP dates have whole seconds: the first one at or after the wait's end.
            return {"Retry-After": formatdate(math.ceil(self._wall() + wait), usegmt=True)}
        return {}

    def _rate_headers(self, count: _Count) -> dict[str, str]:
        style = self._limit.headers
        limit, remaining = str(count.limit), str(count.remaining)
        reset = str(_ceil(count.reset))
        window = f"{self._window(count):g}"
        if style == "x-ratelimit":
            return {
                "X-RateLimit-Limit": limit,
                "X-RateLimit-Remaining": remaining,
                "X-RateLimit-Reset": reset,
            }
        if style == "x-ratelimit-epoch":
            epoch = str(math.ceil(self._wall() + count.reset))
            return {
                "X-RateLimit-Limit": limit,
                "X-RateLimit-Remaining": remaining,
                "X-RateLimit-Reset": epoch,
            }
        if style == "ratelimit":
            return {
                "RateLimit-Limit": limit,
                "RateLimit-Remaining": remaining,
                "RateLimit-Reset": reset,
                "RateLimit-Policy": f"{limit};w={window}",
            }
        return {
            "RateLimit": f'"default";r={remaining};t={reset}',
            "RateLimit-Policy": f'"default";q={limit};w={window}',
        }

    def _window(self, count: _Count) -> float:
        if self._limit.kind == "token_bucket":
            return count.limit / self._limit.per_second  # an empty bucket's time to fill
        return self._limit.window


@attrs.define
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """One token bucket per key; a refused request is told how long until the next token."""

    def __init__(self, limit: EmulatorRateLimit, wall: Callable[[], float] = time.time) -> None:
        """Enforce ``limit``; every key starts with a full bucket."""
        self._limit = limit
        self._buckets: dict[str, _Bucket] = {}
        self._render = _Renderer(limit, wall).decision

    def take(self, key: str, now: float) -> Decision:
        """Take a token from ``key``'s bucket, or refuse with the wait until there is one."""
        return self._render(self._take_token(key, now))

    def reset(self) -> None:
        """Forget every bucket: each key starts full again."""
        self._buckets.clear()

    def _take_token(self, key: str, now: float) -> _Count:
        limit = self._limit
        capacity = float(limit.burst)
        bucket = self._buckets.setdefault(key, _Bucket(capacity, now))
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(capacity, bucket.tokens + elapsed * limit.per_second)
        bucket.updated = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        wait = 0.0 if allowed else (1 - bucket.tokens) / limit.per_second
        reset = (capacity - bucket.tokens) / limit.per_second
        return _Count(allowed, wait, limit.burst, math.floor(bucket.tokens), reset)


class FixedWindow:
    """Fixed windows per key, aligned on the wall clock: ``quota`` requests in each."""

    def __init__(
        self,
        limit: EmulatorRateLimit,
        wall: Callable[[], float] = time.time,
        offset: float | None = None,
    ) -> None:
        """Enforce ``limit``; ``offset`` maps the monotonic clock to the windows' (default:
        the wall clock's, so that a window of whole seconds starts on a whole second)."""
        self._limit = limit
        self._offset = offset
        self._wall = wall
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window index, requests in it)
        self._render = _Renderer(limit, wall).decision

    def take(self, key: str, now: float) -> Decision:
        """Count the request in the current window, or refuse it until the window ends."""
        if self._offset is None:
            self._offset = (self._wall() - now) % self._limit.window
        window = self._limit.window
        position = (now + self._offset) / window
        index = math.floor(position)
        left = (index + 1 - position) * window  # until this window ends
        current, used = self._counts.get(key, (index, 0))
        if current != index:
            used = 0
        quota = self._limit.quota
        allowed = used < quota
        if allowed:
            used += 1
        self._counts[key] = (index, used)
        return self._render(_Count(allowed, 0.0 if allowed else left, quota, quota - used, left))

    def reset(self) -> None:
        """Forget every key's count."""
        self._counts.clear()


class SlidingWindow:
    """A sliding log per key: at most ``quota`` requests in any ``window`` seconds."""

    def __init__(self, limit: EmulatorRateLimit, wall: Callable[[], float] = time.time) -> None:
        """Enforce ``limit``."""
        self._limit = limit
        self._logs: dict[str, collections.deque[float]] = {}
        self._render = _Renderer(limit, wall).decision

    def take(self, key: str, now: float) -> Decision:
        """Count the request if fewer than ``quota`` came in the last ``window`` seconds."""
        window, quota = self._limit.window, self._limit.quota
        log = self._logs.setdefault(key, collections.deque())
        while log and log[0] <= now - window:
            log.popleft()
        allowed = len(log) < quota
        if allowed:
            log.append(now)
        wait = 0.0 if allowed else log[0] + window - now
        reset = log[-1] + window - now if log else 0.0  # when the whole quota is back
        return self._render(_Count(allowed, wait, quota, quota - len(log), reset))

    def reset(self) -> None:
        """Forget every key's log."""
        self._logs.clear()


def limiter_for(
    limit: EmulatorRateLimit | None,
    wall: Callable[[], float] = time.time,
    *,
    align: bool = True,
) -> Limiter | None:
    """Build the limiter that enforces ``limit``; ``None`` (no limit) gives ``None``.

    ``wall`` is the clock of dates and Unix times in headers. With ``align``, fixed windows
    start on its whole seconds; without, on the emulator clock's.
    """
    if limit is None:
        return None
    if limit.kind == "fixed_window":
        return FixedWindow(limit, wall, offset=None if align else 0.0)
    if limit.kind == "sliding_window":
        return SlidingWindow(limit, wall)
    return TokenBucket(limit, wall)

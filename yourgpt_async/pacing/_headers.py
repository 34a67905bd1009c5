"""Rate-limit headers: what a reply says of the service's quota, read once.

:func:`rate_hints` reads every common family (``X-RateLimit-*``, the IETF draft's
``RateLimit-*`` and its later ``RateLimit`` field) into a :class:`RateHints`, which the
limiters spend (``_quota``; the fleet's ``lua/quota.lua``); :func:`rate_limit_info` gives the
same figures to a raw response. ``Retry-After`` is a reply's own business, read in ``_wire``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Final

import attrs

from ..types import RateLimitInfo

__all__ = ["RateHints", "rate_hints", "rate_limit_info"]

_EPOCH_SECONDS: Final = 1e9  # a reset this large is a Unix time (2001 on), not a delay
_EPOCH_MILLIS: Final = 1e12  # ... and this large, one in milliseconds
_LONGEST_RESET: Final = 86400.0  # a quota that resets in more than a day says nothing useful


@attrs.frozen(slots=True)
class RateHints:
    """What one reply's rate-limit headers say about the service's quota, read once.

    Attributes:
        remaining: Requests the service says it will still accept before ``reset``.
        reset: Seconds from the reply until the quota is whole again.
        limit: The whole quota, when the reply says it.
        window: The length in seconds of the quota's window, when a policy says it.
    """

    remaining: int
    reset: float
    limit: int | None = None
    window: float | None = None


def rate_hints(headers: Mapping[str, str], *, now: float | None = None) -> RateHints | None:
    """Read a reply's rate-limit headers; ``None`` when it has none or they make no sense.

    Understood: ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds from now, or a
    Unix time in seconds or milliseconds); the IETF draft's ``RateLimit-Limit``, ``-Remaining``,
    ``-Reset`` and ``RateLimit-Policy`` (``10;w=1``); and its later ``RateLimit`` field, as
    ``limit=10, remaining=5, reset=3`` or ``"default";r=5;t=3`` with ``RateLimit-Policy:
    "default";q=10;w=1``. A reply without ``-Remaining`` (or ``RateLimit``) costs two or three
    header look-ups and nothing else.

    Args:
        headers: The reply's headers (case-insensitive, as aiohttp gives them).
        now: The current wall-clock time (seconds since the epoch), for tests.
    """
    remaining = headers.get("X-RateLimit-Remaining")
    if remaining is not None:
        reset, limit = headers.get("X-RateLimit-Reset"), headers.get("X-RateLimit-Limit")
        return _hints(remaining, reset, limit, None, now)
    remaining = headers.get("RateLimit-Remaining")
    if remaining is not None:
        reset, limit = headers.get("RateLimit-Reset"), headers.get("RateLimit-Limit")
        return _hints(remaining, reset, limit, headers.get("RateLimit-Policy"), now)
    field = headers.get("RateLimit")
    if field is not None:
        return _structured(field, headers.get("RateLimit-Policy"), now)
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().strip('"'))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _hints(
    remaining_text: str | None,
    reset_text: str | None,
    limit_text: str | None,
    policy_text: str | None,
    now: float | None,
) -> RateHints | None:
    remaining, reset = _number(remaining_text), _number(reset_text)
    if remaining is None or reset is None:
        return None
    if reset >= _EPOCH_SECONDS:
        if reset >= _EPOCH_MILLIS:
            reset /= 1000
        reset = max(0.0, reset - (time.time() if now is None else now))
    limit = _number(limit_text)
    window = _policy_window(policy_text)
    if reset > _LONGEST_RESET or (limit is not None and (limit < 1 or remaining > limit)):
        return None  # nonsensical: better no hint than a wrong one
    return RateHints(int(remaining), reset, None if limit is None else int(limit), window)


def _members(field: str) -> list[dict[str, str]]:
    """A structured field's list members, each as its parameters (``key=value``; a bare
    token such as ``"default"`` is the member's ``""``)."""
    members = []
    for member in field.split(","):
        params: dict[str, str] = {}
        for part in member.split(";"):
            key, equals, value = part.partition("=")
            if equals:
                params[key.strip().lower()] = value.strip().strip('"')
            elif part.strip():
                params[""] = part.strip().strip('"')
        members.append(params)
    return members


def _policy_window(policy: str | None) -> float | None:
    if not policy:
        return None
    for member in _members(policy):
        window = _number(member.get("w"))
        if window:
            return window
    return None


def _structured(field: str, policy: str | None, now: float | None) -> RateHints | None:
    members = _members(field)
    if any("remaining" in member for member in members):  # limit=10, remaining=5, reset=3
        merged = {key: value for member in members for key, value in member.items()}
        return _hints(
            merged.get("remaining"), merged.get("reset"), merged.get("limit"), policy, now
        )
    # "name";r=5;t=3 per policy: the one with the fewest requests left binds.
    quotas = {m.get(""): m.get("q") for m in _members(policy)} if policy else {}
    best: RateHints | None = None
    for member in members:
        hints = _hints(member.get("r"), member.get("t"), quotas.get(member.get("")), policy, now)
        if hints is not None and (best is None or hints.remaining < best.remaining):
            best = hints
    return best


def rate_limit_info(
    headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitInfo | None:
    """What a reply's rate-limit headers say, for a raw response; ``None`` when it has none.

    The same reading the limiter uses (:func:`rate_hints`), so the figures a caller sees are
    the ones that paced the call.
    """
    hints = rate_hints(headers, now=now)
    if hints is None:
        return None
    return RateLimitInfo(limit=hints.limit, remaining=hints.remaining, reset=hints.reset)

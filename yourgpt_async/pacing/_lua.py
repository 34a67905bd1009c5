"""The Lua scripts of :class:`~yourgpt_async.RedisRateLimit`, assembled from ``lua/``.

Every script is the same library followed by its own body: the constants of ``_rules``,
generated here by name; the shared state (``lua/state.lua``: one hash of named fields, the
log of successes, the log of turns given, the clock and the settings); the estimates
(``lua/estimate.lua``, line for line ``_estimate``); the adaptive rate (``lua/model.lua``,
line for line ``_model.RateModel``, its attributes the hash's fields); and the quota that
rate-limit headers announce (``lua/quota.lua``, line for line ``_quota.Quota``). The bodies
(``acquire.lua``, ``throttle.lua``, ``rejoin.lua``) are the three round trips of
:class:`~._fleet.RedisLimiter`.

The scripts keep time by Redis's clock (``TIME``) unless they are handed one: a limiter given
a clock passes its time in, so that tests run a fleet on virtual time. :class:`Scripts` calls
them for one budget: arguments in, typed answers out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final

import attrs

from .._config import Clock
from . import _rules

__all__ = [
    "ACQUIRE",
    "LIBRARY",
    "NO_HINT",
    "REJOIN",
    "THROTTLE",
    "Granted",
    "NotRedisError",
    "Scripts",
    "reports",
    "settings",
]

NO_HINT: Final = ("", "", "", "", "")
"""No rate-limit headers to report."""

_PARTS: Final = ("state", "estimate", "model", "quota", "reports")


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(f"lua/{name}.lua").read_text("utf-8")


def _constants() -> str:
    lines = ["-- The constants of _rules, by name."]
    lines += [f"local {name} = {value!r}" for name, value in _rules.constants().items()]
    return "\n".join(lines) + "\n"


LIBRARY: Final = _constants() + "".join(_read(part) for part in _PARTS)
"""What every script starts with; ``LIBRARY + "return ..."`` runs a piece of it on its own."""
ACQUIRE: Final = LIBRARY + _read("acquire")
THROTTLE: Final = LIBRARY + _read("throttle")
REJOIN: Final = LIBRARY + _read("rejoin")


def settings(
    *,
    per_second: float | None,
    adaptive: bool,
    burst: int,
    initial: float,
    floor: float,
    increase: float,
    decrease: float,
    max_cooldown: float,
    clients: int,
    idle_ms: int,
) -> tuple[str, ...]:
    """The arguments every script takes after the time, in ``lua/state.lua``'s order."""
    return (
        repr(float(per_second or 0)),
        "1" if adaptive else "0",
        str(burst),
        repr(float(initial)),
        repr(float(floor)),
        repr(float(increase)),
        repr(float(decrease)),
        repr(float(max_cooldown)),
        str(clients),
        str(idle_ms),
    )


class NotRedisError(Exception):
    """What answered is not a Redis server running these scripts: a reply of the wrong shape,
    or redis-py itself failing on what came back. The limiter treats it as Redis unreachable."""


_MISREAD: Final = (AttributeError, TypeError, ValueError, IndexError, KeyError)


async def _call(what: str, script: Any, keys: Sequence[str], args: Sequence[object]) -> Any:
    try:
        return await script(keys=keys, args=args)
    except _MISREAD as error:  # redis-py failing on a reply that is not Redis's
        raise NotRedisError(
            f"what answers there is not Redis: running the {what} script, redis-py failed on "
            f"its reply ({type(error).__name__})"
        ) from None


def _misread(what: str, reply: object) -> NotRedisError:
    # Only the reply's type: a server that is not Redis may echo what it was sent (AUTH...).
    return NotRedisError(
        f"what answers there is not Redis running this limiter's scripts: the {what} script "
        f"got a {type(reply).__name__} of the wrong shape"
    )


@attrs.frozen
class Granted:
    """The acquire script's answer (see ``lua/acquire.lua`` for the statuses)."""

    status: int
    wait: float
    now: float  # when it was given, on the schedule's clock
    rate: float
    slot: float
    slow_start: bool


class Scripts:
    """The scripts of one budget, called as methods: the keys, the time and the settings go
    with each call, and what a client saw since its last call (``reports``) with any.

    Args:
        redis: What to send them through (redis-py's ``register_script``).
        key: The budget's hash; its two sorted sets are named after it.
        settings: What :func:`settings` made.
        clock: The schedule's clock, or ``None`` for Redis's own.
    """

    def __init__(
        self, redis: Any, *, key: str, settings: tuple[str, ...], clock: Clock | None
    ) -> None:
        self.keys = (key, f"{key}:log", f"{key}:sent")
        self._settings, self._clock = settings, clock
        self._acquire = redis.register_script(ACQUIRE)
        self._throttle = redis.register_script(THROTTLE)
        self._rejoin = redis.register_script(REJOIN)

    def _head(self) -> tuple[str, ...]:
        return ("" if self._clock is None else repr(self._clock()), *self._settings)

    async def acquire(
        self, mode: str, *, bulk: bool, maxwait: float | None, reports: Sequence[str]
    ) -> Granted:
        """Reserve (``"r"``), confirm (``"c"``) or only report (``"n"``); ``maxwait`` is the
        most the caller can wait (``None``: no limit)."""
        limit = "-1" if maxwait is None else repr(maxwait)
        args = (*self._head(), mode, "b" if bulk else "i", limit, *reports)
        reply = await _call("acquire", self._acquire, self.keys, args)
        try:
            status, wait, now, rate, slot, slow_start = reply
            got = Granted(
                status, float(wait), float(now), float(rate), float(slot), slow_start == 1
            )
        except (TypeError, ValueError):
            raise _misread("acquire", reply) from None
        if not isinstance(status, int) or not math.isfinite(got.now + got.slot):
            raise _misread("acquire", reply)
        return got

    async def throttle(
        self, retry_after: float | None, *, slot: float, given: float, reports: Sequence[str]
    ) -> float:
        """Share a 429 for the request sent at ``slot`` (its turn given at ``given``); return
        the rate from now on."""
        wait = "" if retry_after is None else repr(float(retry_after))
        args = (*self._head(), wait, repr(slot), repr(given), *reports)
        reply = await _call("throttle", self._throttle, self.keys, args)
        try:
            return float(reply)
        except (TypeError, ValueError):
            raise _misread("throttle", reply) from None

    async def rejoin(self, grace: float, rate: float) -> int:
        """Come back after an outage; return how many clients are back."""
        args = (*self._head(), repr(grace), repr(rate))
        reply = await _call("rejoin", self._rejoin, self.keys, args)
        if not isinstance(reply, int):
            raise _misread("rejoin", reply)
        return reply


def reports(hint: Sequence[str], successes: Sequence[float]) -> tuple[str, ...]:
    """What a client saw since its last call: the latest rate-limit headers (``hint``, or
    :data:`NO_HINT`) and when each success's request was sent."""
    return (*hint, str(len(successes)), *map(repr, successes))

"""What a client asks of its rate limiter: :class:`Limiter`, and :class:`LimiterFactory` for a
configuration that makes its own (a shared backend).

Before each HTTP attempt the client awaits :meth:`Limiter.acquire_within` (or
:meth:`Limiter.acquire`); afterwards it reports :meth:`Limiter.on_success` or
:meth:`Limiter.on_throttled`, and hands over what the reply's rate-limit headers said with
:meth:`Limiter.on_rate_headers`. The concurrency gate (how many requests are in flight) is the
client's, not the limiter's.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Final

from ..types import Priority
from ._headers import RateHints

__all__ = ["BULK", "INTERACTIVE", "Limiter", "LimiterFactory", "NoTurnInTime"]

INTERACTIVE: Final = Priority.INTERACTIVE
BULK: Final = Priority.BULK


class NoTurnInTime(Exception):
    """No turn could be given before the caller's time ran out; nothing was sent.

    Attributes:
        wait: Seconds until a turn was expected (the rest of a cool-down), if known.
        cooldown: Whether a cool-down (a 429's ``Retry-After``, or a quota spent until its
            reset) is what stood in the way, rather than the queue.
    """

    def __init__(self, wait: float | None, *, cooldown: bool) -> None:
        super().__init__("no turn before the deadline")
        self.wait = wait
        self.cooldown = cooldown


class Limiter(abc.ABC):
    """Paces the requests of one client (or, for a shared backend, of many)."""

    @abc.abstractmethod
    async def acquire(self, priority: Priority = INTERACTIVE) -> float:
        """Wait until a request may be sent; return a ticket to hand back in the report.

        ``priority`` says whose turn comes first when callers wait: an interactive caller goes
        ahead of queued bulk ones (a limiter may ignore it).
        """

    async def acquire_within(self, seconds: float, priority: Priority = INTERACTIVE) -> float:
        """:meth:`acquire`, giving up after ``seconds``.

        Raises:
            NoTurnInTime: No turn came in time; the caller sends nothing.
        """
        try:
            return await asyncio.wait_for(self.acquire(priority), max(0.0, seconds))
        except asyncio.TimeoutError:
            raise NoTurnInTime(None, cooldown=False) from None

    @abc.abstractmethod
    def on_success(self, ticket: float) -> None:
        """Report that the request sent under ``ticket`` was accepted."""

    @abc.abstractmethod
    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        """Report a 429 (or 503) for the request sent under ``ticket``."""

    def on_rate_headers(self, ticket: float, hints: RateHints) -> None:  # noqa: B027
        """Report what the rate-limit headers of the reply to ``ticket`` said (before the
        success or 429 is reported). Ignored unless a limiter overrides it."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to close by default
        """Release whatever the limiter holds (connections of a shared backend)."""


class LimiterFactory(abc.ABC):
    """A rate-limit configuration that makes its own :class:`Limiter` (a shared backend)."""

    @abc.abstractmethod
    def make_limiter(self) -> Limiter:
        """Make the limiter one client uses."""

"""What a service's rate-limit headers said, as a budget the local limiter spends.

:class:`Quota` turns the replies' ``remaining`` and ``reset`` (read by
:func:`~._headers.rate_hints`) into a pace that spends what is left by the reset, and a hold
once it is spent. No clock of its own: the limiter passes ``now`` in. The fleet keeps the same
budget in Redis, transcribed into ``lua/quota.lua``.
"""

from __future__ import annotations

import bisect
import math

from ._headers import RateHints
from ._rules import SENT_HORIZON, SENT_KEPT

__all__ = ["Quota"]


class Quota:
    """What rate-limit headers said: ``budget`` more requests may go before ``reset_at``.

    Once the budget is spent nobody goes until ``hold_until``: the reset, or sooner when a
    policy names the window (a token bucket's whole allowance is back within one); and never
    for more than ``max_cooldown``, as a 429's pause, so that a reset a day away cannot stall
    a client for a day.
    """

    __slots__ = ("budget", "hold_until", "max_cooldown", "reset_at", "sent", "sustained", "window")

    def __init__(self, max_cooldown: float = math.inf) -> None:
        self.max_cooldown = max_cooldown
        self.budget = math.inf
        self.reset_at = -math.inf
        self.hold_until = -math.inf
        self.window = math.inf
        self.sustained = 0.0  # the policy's allowance per second (limit / window), if told
        self.sent: list[float] = []  # tickets granted since headers were first seen, in order

    def update(self, ticket: float, hints: RateHints, now: float) -> None:
        """Take in one reply's headers: its remaining quota, less what was sent after it."""
        if ticket < self.reset_at <= now:
            return  # sent before the last reset: it tells of a quota that is gone
        sent = self.sent
        after = len(sent) - bisect.bisect_left(sent, ticket)  # this one and later ones
        budget = hints.remaining - max(0, after - 1)
        reset_at = now + hints.reset
        if now < self.reset_at < reset_at and budget <= self.budget:
            # The same window: a reset rounded up to whole seconds only ever comes late, so
            # the earliest one seen is the closest.
            reset_at = self.reset_at
        self.budget, self.reset_at = budget, reset_at
        if hints.window is not None:
            self.window = hints.window
            if hints.limit is not None:
                self.sustained = hints.limit / hints.window
        if budget <= 0:
            self.spent(now)
        horizon = bisect.bisect_left(sent, now - SENT_HORIZON)
        if horizon > len(sent) // 2:
            del sent[:horizon]  # forget tickets whose replies are long in

    def given(self, ticket: float, now: float) -> None:
        """A turn was given: count it against the budget (holding once it is spent), and keep
        its ticket for the replies still to come, at most :data:`SENT_KEPT` twice over."""
        self.budget -= 1
        sent = self.sent
        sent.append(ticket)
        if len(sent) > 2 * SENT_KEPT:
            del sent[:SENT_KEPT]
        if self.budget <= 0:
            self.spent(now)

    def spent(self, now: float) -> None:
        """The budget is gone: hold until the reset, or for one window or ``max_cooldown`` at
        most."""
        self.hold_until = min(self.reset_at, now + self.window, now + self.max_cooldown)

    def rate(self, now: float) -> float:
        """The pace that spends the budget by the reset (or the policy's own, if faster)."""
        left = self.reset_at - now
        if self.budget <= 0 or left <= 0:
            return math.inf  # held until the reset, or already reset: nothing to spread
        return max(self.budget / left, self.sustained)

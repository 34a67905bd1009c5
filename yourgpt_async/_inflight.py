"""Where one call stands: whether its request is on the wire, or may have been delivered.

The transport marks a :class:`CallState` that the caller put in :data:`CALL_STATE`; a bulk run
reads it, when it stops, to cancel only the calls whose request has not left (those still
waiting for a concurrency or rate-limit turn) and to await the others.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

__all__ = ["CALL_STATE", "CallState"]


class CallState:
    """The progress of one call, across its attempts."""

    __slots__ = ("maybe_delivered", "sending")

    def __init__(self) -> None:
        self.sending = False
        """An HTTP request of this call is on the wire now."""
        self.maybe_delivered = False
        """An attempt left and did not end in a way that proves nothing was delivered."""

    @property
    def unsent(self) -> bool:
        """Nothing of this call is on the wire and nothing has been delivered: safe to cancel."""
        return not self.sending and not self.maybe_delivered


CALL_STATE: Final[ContextVar[CallState | None]] = ContextVar("yourgpt_async_call", default=None)
"""The state of the call the current task is making, if its caller asked to follow it."""

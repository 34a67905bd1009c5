"""What the bulk engine needs of a client, as a protocol, so ``_bulk`` never imports the client."""

from __future__ import annotations

from typing import Protocol

from .._models import Message, SendBy

__all__ = ["BulkClient"]


class BulkClient(Protocol):
    """The part of :class:`~yourgpt_async.AsyncClient` a :class:`BulkRun` uses."""

    @property
    def widget_uid(self) -> str | None:
        """The widget the messages go to; ``None`` if the client has none."""
        ...

    async def send_message(
        self, session_uid: str, message: str, *, send_by: SendBy | str = ...
    ) -> Message:
        """Send one message, with the client's retries, pacing and concurrency gate."""
        ...

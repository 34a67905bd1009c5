"""What the bulk engine needs of a client, as a protocol, so ``_bulk`` never imports the client."""

from __future__ import annotations

from typing import Literal, Protocol

from .._config import RetryPolicy
from .._models import Message, Page, SendBy, SessionMessage

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

    async def get_session_messages(
        self,
        session_uid: str,
        *,
        page: int = ...,
        limit: int = ...,
        order: Literal["ASC", "DESC"] | None = ...,
        retry: RetryPolicy | None = ...,
    ) -> Page[SessionMessage]:
        """Read one page of a session's messages (to settle an earlier run's in-doubt items)."""
        ...

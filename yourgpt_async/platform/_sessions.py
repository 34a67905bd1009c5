"""Conversations of one project by its ``project_uid`` (``yp.project(uid).sessions``).

The four paths are the Project Integration API's (``_project_api`` declares them once, for both
credentials); with a token they take the project's uid instead of a widget, and their own
parameter set: no ``send_by`` (a message is the user's), a ``content_type`` instead, a
``status`` filter on the list and no saved views or filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Final, Literal

from .. import _validate as check
from .._calls import Timeout
from .._config import RetryPolicy
from .._project_api import CREATE_SESSION, GET_SESSIONS, SEND_MESSAGE, UPDATE_SESSION
from .._resource import calls
from ..types import (
    ChatMode,
    ContentType,
    Message,
    Page,
    Priority,
    SendBy,
    Session,
    SessionState,
)
from ..types._conversations import sent_message
from ._base import ProjectResource, list_query

__all__ = ["Sessions"]

_STATUSES: Final = ("open", "closed")


class Sessions(ProjectResource):
    """``project.sessions``: create sessions, send messages, list and update sessions.

    A session made here is the project's like any other: its key's ``AsyncClient`` sees it
    and can message it, and the other way round.
    """

    @calls(CREATE_SESSION)
    async def create(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Session:
        """Open a chat session in the project (on its widget).

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second session (an
        unused one costs nothing).

        Args:
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The new session; pass its ``session_uid`` to the other methods.
        """
        return await self._client._caller.call(
            CREATE_SESSION, self._payload(), retry, timeout, priority
        )

    @calls(SEND_MESSAGE)
    async def send_message(
        self,
        session_uid: str,
        message: str,
        *,
        content_type: ContentType | str = ContentType.TEXT,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Message:
        """Send a message into a session, as its user.

        This variant of the endpoint has no sender to choose (a project key's
        :meth:`~yourgpt_async.AsyncClient.send_message` has ``send_by``) and answers with the
        message as stored.

        Not idempotent: after a timeout or dropped connection once the request was sent, it
        raises :class:`~yourgpt_async.DeliveryUnknownError` instead of resending, unless the
        retry policy has ``retry_unsafe=True``. An organisation's token cannot read a
        session's messages back, so ``reconcile=True`` does not settle it: the project's key
        can (``AsyncClient.get_session_messages``).

        Args:
            session_uid: The session, from :meth:`create` or :meth:`list`.
            message: The text; must not be empty.
            content_type: What the message is: ``"text"`` (the default), ``"picker"``,
                ``"image"``, ``"audio"``, ``"video"`` or ``"file"`` (a :class:`ContentType`).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The message as the service stored it.
        """
        uid = check.uid("session_uid", session_uid)
        text = check.message_text(message)
        kind = check.choice("content_type", content_type, ContentType)
        payload = self._payload(session_uid=uid, message=text, content_type=kind.value)
        sent = await self._client._caller.call(SEND_MESSAGE, payload, retry, timeout, priority)
        return sent_message(sent, session_uid=uid, message=text, send_by=SendBy.USER)

    @calls(GET_SESSIONS)
    async def list(
        self,
        *,
        status: Literal["open", "closed"] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        order: Literal["ASC", "DESC"] | None = None,
        page: int = 1,
        limit: int = 10,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[Session]:
        """Get one page of the project's sessions.

        ``async for session in await bot.sessions.list()`` goes through every page. The rows
        are shorter than a project key's :meth:`~yourgpt_async.AsyncClient.get_sessions`
        gives (no unseen count, no last message id or type): those fields are ``None``.

        Args:
            status: Only ``"open"`` or only ``"closed"`` sessions.
            date_from: Only sessions from this day (a ``date`` or ``"YYYY-MM-DD"``).
            date_to: Only sessions up to this day (the service defaults to today).
            order: ``"ASC"`` (the service's default) or ``"DESC"``, by last message time.
            page: The page number, from 1.
            limit: Sessions per page, 1 to 100.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The page, with ``total`` when the service sends it and ``has_more``.
        """
        wanted = None if status is None else check.literal("status", status, _STATUSES)
        query = list_query(order=order, date_from=date_from, date_to=date_to, status=wanted)
        return await self._client._caller.page(
            GET_SESSIONS,
            self._payload(**query),
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    @calls(UPDATE_SESSION)
    async def update(
        self,
        session_uid: str,
        *,
        state: SessionState | str | None = None,
        chat_mode: ChatMode | str | None = None,
        segment: str | Sequence[str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Session:
        """Change a session's state, chat mode or segment tags. Idempotent, so retried freely.

        Args:
            session_uid: The session.
            state: The new state. ``RESOLVED`` also hands the session back to the bot, so it
                cannot be combined with ``chat_mode``.
            chat_mode: ``BOT`` to let the AI answer again after an operator hand-off,
                ``OPERATOR`` to silence it, ``AWAITING`` to mark it waiting for an operator.
            segment: Comma-separated tags (or a list of them), at most 255 characters; replaces
                the whole value.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The session as updated.
        """
        uid = check.uid("session_uid", session_uid)
        payload = self._payload(session_uid=uid, **check.session_changes(state, chat_mode, segment))
        return await self._client._caller.call(UPDATE_SESSION, payload, retry, timeout, priority)

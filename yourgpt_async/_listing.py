"""The listing endpoints of :class:`~yourgpt_async.AsyncClient`: sessions and their messages,
a page at a time or iterated over every page.

:class:`ListingMethods` is a base of ``AsyncClient``; it only needs the client's
:class:`~._calls.Caller`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import _validate as check
from ._calls import Caller, Timeout
from ._config import RetryPolicy
from ._models import Page, Priority, Session, SessionMessage
from ._wire import GET_SESSION_MESSAGES, GET_SESSIONS

__all__ = ["ListingMethods"]

L = TypeVar("L", bound="ListingMethods")


class ListingMethods:
    """``get_sessions``, ``iter_sessions``, ``get_session_messages``, ``iter_session_messages``."""

    _caller: Caller

    if TYPE_CHECKING:

        def _fork(self: L) -> L:
            """A view of the client (the client's own method)."""

    async def get_sessions(
        self,
        *,
        page: int = 1,
        limit: int = 10,
        order: Literal["ASC", "DESC"] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        view_id: int | None = None,
        filters: Sequence[Mapping[str, Any]] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[Session]:
        """Get one page of the project's sessions.

        The page can fetch the next one (:meth:`Page.get_next_page`), and ``async for`` over
        it goes through every page from it on.

        Args:
            page: The page number, from 1.
            limit: Sessions per page, 1 to 100.
            order: ``"ASC"`` or ``"DESC"`` by last message time (the service defaults to ASC).
            date_from: Only sessions from this day (a ``date`` or ``"YYYY-MM-DD"``).
            date_to: Only sessions up to this day (the service defaults to today).
            view_id: A saved view of the dashboard.
            filters: Conditions as the service takes them, e.g.
                ``[{"key": "state", "operator": "=", "value": "pending"}]``; ``model`` defaults
                to ``"SESSION"``.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Returns:
            The page, with ``total`` when the service sends it and ``has_more``.
        """
        query = check.sessions_query(order, date_from, date_to, view_id, filters)
        return await self._caller.page(
            GET_SESSIONS,
            query,
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    async def iter_sessions(
        self,
        *,
        limit: int = check.MAX_PAGE_SIZE,
        order: Literal["ASC", "DESC"] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        view_id: int | None = None,
        filters: Sequence[Mapping[str, Any]] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> AsyncIterator[Session]:
        """Iterate over all sessions, fetching page after page as needed.

        The same as ``async for session in await get_sessions(...)``.

        Args:
            limit: Sessions per request (the page size), 1 to 100; not a total.
            order: ``"ASC"`` or ``"DESC"`` by last message time (the service defaults to ASC).
            date_from: Only sessions from this day (a ``date`` or ``"YYYY-MM-DD"``).
            date_to: Only sessions up to this day (the service defaults to today).
            view_id: A saved view of the dashboard.
            filters: Conditions as :meth:`~yourgpt_async.AsyncClient.get_sessions` takes them.
            retry: Overrides the client's retry policy for each request.
            timeout: Overrides the client's timeouts for each request.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Yields:
            Each session, in the order the service lists them.
        """
        first = await self.get_sessions(
            limit=limit,
            order=order,
            date_from=date_from,
            date_to=date_to,
            view_id=view_id,
            filters=filters,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )
        async for session in first:
            yield session

    async def get_session_messages(
        self,
        session_uid: str,
        *,
        page: int = 1,
        limit: int = 10,
        order: Literal["ASC", "DESC"] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[SessionMessage]:
        """Get one page of a session's messages (the user's, the AI's and operators').

        The page can fetch the next one (:meth:`Page.get_next_page`), and ``async for`` over
        it goes through every page from it on.

        Args:
            session_uid: The session.
            page: The page number, from 1.
            limit: Messages per page, 1 to 100.
            order: ``"ASC"`` (oldest first, the service's default) or ``"DESC"``.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Returns:
            The page, with ``total`` when the service sends it and ``has_more``.
        """
        query: dict[str, Any] = {"session_uid": check.uid("session_uid", session_uid)}
        sort = check.order(order)
        if sort is not None:
            query["orderBy"] = sort
        return await self._caller.page(
            GET_SESSION_MESSAGES,
            query,
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    async def iter_session_messages(
        self,
        session_uid: str,
        *,
        limit: int = check.MAX_PAGE_SIZE,
        order: Literal["ASC", "DESC"] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> AsyncIterator[SessionMessage]:
        """Iterate over all of a session's messages, fetching page after page as needed.

        The same as ``async for message in await get_session_messages(...)``.

        Args:
            session_uid: The session.
            limit: Messages per request (the page size), 1 to 100; not a total.
            order: ``"ASC"`` (oldest first, the service's default) or ``"DESC"``.
            retry: Overrides the client's retry policy for each request.
            timeout: Overrides the client's timeouts for each request.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Yields:
            Each message, in the order asked for.
        """
        first = await self.get_session_messages(
            session_uid,
            limit=limit,
            order=order,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )
        async for message in first:
            yield message

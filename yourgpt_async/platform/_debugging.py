"""Knowledge-base search and execution logs of one project (``.knowledgebase``,
``.execution_logs``).

Both paths are the Project Integration API's (``_project_api`` declares them once, for both
credentials); with a token they take the project's uid, and search always sends ``limit``,
which this variant requires.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from .. import _validate as check
from .._calls import Timeout
from .._config import RetryPolicy
from .._project_api import GET_EXECUTION_LOGS, SEARCH_KNOWLEDGEBASE
from .._resource import calls
from ..types import ExecutionLog, KnowledgebaseHit, Page, Priority
from ._base import ProjectResource

__all__ = ["ExecutionLogs", "Knowledgebase"]


class Knowledgebase(ProjectResource):
    """``project.knowledgebase``: search what the bot was trained on."""

    @calls(SEARCH_KNOWLEDGEBASE)
    async def search(
        self,
        query: str,
        *,
        limit: int = 10,
        offset: int | None = None,
        node_id: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> list[KnowledgebaseHit]:
        """Search what the bot was trained on, and get the best-matching chunks, best first.

        Needs a token with Debugging › Read (owners, editors, viewers and trainers have it),
        and a plan that includes knowledge-base search: without either the service refuses
        with :class:`~yourgpt_async.PermissionDeniedError`, which says which.

        Args:
            query: What to look for, at most 5,000 characters.
            limit: Most chunks to return, 1 to 100 (always sent: this variant requires it).
            offset: Chunks to skip, for the next results of the same query (``offset=limit``
                gives the second lot).
            node_id: Only chunks of this document (a hit's ``doc_id``).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The matching chunks (empty when nothing matches).
        """
        payload = self._payload(**check.search_query(query, limit, offset, node_id))
        hits = await self._client._caller.call(
            SEARCH_KNOWLEDGEBASE, payload, retry, timeout, priority
        )
        return [*hits]


class ExecutionLogs(ProjectResource):
    """``project.execution_logs``: what the bot did in conversations."""

    @calls(GET_EXECUTION_LOGS)
    async def list(
        self,
        *,
        session_uid: str | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        order: Literal["ASC", "DESC"] | None = None,
        page: int = 1,
        limit: int = 10,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[ExecutionLog]:
        """Get one page of what the bot did in conversations: actions it ran, flows it started.

        Unlike the other lists, the service lists these newest first unless told otherwise.
        ``async for log in await bot.execution_logs.list()`` goes through every page.

        Args:
            session_uid: Only this session's logs.
            date_from: Only logs from this day (a ``date`` or ``"YYYY-MM-DD"``).
            date_to: Only logs up to this day.
            order: ``"DESC"`` (newest first, the service's default) or ``"ASC"``.
            page: The page number, from 1.
            limit: Entries per page, 1 to 100.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The page, with ``has_more`` (and ``total`` when the service sends it).
        """
        query = self._payload(**check.log_query(session_uid, order, date_from, date_to))
        return await self._client._caller.page(
            GET_EXECUTION_LOGS,
            query,
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

"""AsyncClient: the Project Integration API (a project's API key), its eight endpoints as methods.

Each method checks its arguments and builds the request's body, then hands it to the client's
:class:`~._calls.Caller` with the endpoint's declaration (``_project_api``): the one request
path of both API families, where the concurrency gate, the rate limiter, the POST, the decoding
and the retry policy all happen. The lifecycle, views and ``with_raw_response`` come from
:class:`~._base_client.BaseClient`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Literal

import aiohttp

from . import _settings as settings
from . import _validate as check
from ._base_client import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RESPONSE_BYTES,
    BaseClient,
)
from ._calls import Timeout
from ._config import RateLimit, RetryPolicy
from ._endpoints import Family
from ._exceptions import ConfigurationError
from ._project_api import (
    CREATE_SESSION,
    GET_EXECUTION_LOGS,
    GET_SESSION_MESSAGES,
    GET_SESSIONS,
    MAKE_OUTBOUND_CALL,
    SEARCH_KNOWLEDGEBASE,
    SEND_MESSAGE,
    UPDATE_SESSION,
)
from ._resource import RawResponses, calls, iterates
from ._telemetry import RequestEvent, ResponseEvent, RetryEvent, ThrottleEvent
from .bulk import BulkInput, BulkItem, BulkRun, BulkSummary
from .bulk._messages import MESSAGES
from .bulk._start import start_run
from .pacing._limiter import LimiterFactory
from .types import (
    ChatMode,
    ExecutionLog,
    KnowledgebaseHit,
    Message,
    OutboundCall,
    Page,
    Priority,
    SendBy,
    Session,
    SessionMessage,
    SessionState,
)
from .types._conversations import sent_message

__all__ = ["DEFAULT_BASE_URL", "AsyncClient", "RawResponses"]


class AsyncClient(BaseClient):
    """An asyncio client for YourGPT's Project Integration API.

    One client holds one ``aiohttp.ClientSession`` (made on first use, inside the running event
    loop), one rate limiter and one concurrency gate, shared by every call; make one per
    application and close it when done, best with ``async with``::

        async with AsyncClient() as yg:
            session = await yg.create_session()
            reply = await yg.send_message(session.session_uid, "Hi")

    Args:
        api_key: The project's API key; defaults to ``YOURGPT_API_KEY``. It is sent only in the
            ``api-key`` header and never appears in a repr, log line or exception.
        widget_uid: The chatbot's widget id, used by ``create_session`` and ``send_message``;
            defaults to ``YOURGPT_WIDGET_UID``. Those methods also take it per call.
        base_url: Defaults to ``YOURGPT_BASE_URL``, then the service's URL. Plain ``http://`` is
            refused except to a loopback host (the emulator).
        timeout: How long one HTTP attempt may take: a :class:`Timeouts`, or a number of
            seconds for the whole attempt. Each method also takes one per call.
        retry: The default :class:`RetryPolicy`; each method also takes one per call.
        rate_limit: A :class:`RateLimit`, or a shared backend such as ``RedisRateLimit``.
        max_concurrency: Most requests in flight at once for this client.
        session: An ``aiohttp.ClientSession`` to use instead of the client's own; the client
            never closes it.
        max_response_bytes: Replies larger than this are refused unread (default 4 MiB).
        default_headers: Headers sent with every request, besides the client's own (the
            credential's ``api-key`` or ``Authorization``, ``Content-Type``, ``Host``, and the
            body's framing, ``Content-Length``, ``Transfer-Encoding`` and
            ``Content-Encoding``, cannot be set this way).
        user_agent_suffix: Text added to the ``User-Agent`` header, such as ``"my-app/1.2"``.
        on_request: Called with a :class:`RequestEvent` as each HTTP attempt is sent.
        on_response: Called with a :class:`ResponseEvent` when each attempt ends.
        on_retry: Called with a :class:`RetryEvent` before each wait for a retry.
        on_throttle: Called with a :class:`ThrottleEvent` when the service answers 429 or 503.
            Hooks run inline and should be quick; an exception in one is logged, not raised.

    Raises:
        ConfigurationError: No key, a malformed key or base URL, or a bad setting (including
            an unknown ``YOURGPT_LOG`` value).
    """

    _family = Family.PROJECT

    def __init__(
        self,
        api_key: str | None = None,
        *,
        widget_uid: str | None = None,
        base_url: str | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | LimiterFactory | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        session: aiohttp.ClientSession | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        default_headers: Mapping[str, str] | None = None,
        user_agent_suffix: str | None = None,
        on_request: Callable[[RequestEvent], object] | None = None,
        on_response: Callable[[ResponseEvent], object] | None = None,
        on_retry: Callable[[RetryEvent], object] | None = None,
        on_throttle: Callable[[ThrottleEvent], object] | None = None,
    ) -> None:
        key = settings.api_key(check.from_env(api_key, "YOURGPT_API_KEY"))
        widget = check.from_env(widget_uid, "YOURGPT_WIDGET_UID")
        self._widget_uid = None if widget is None else check.uid("widget_uid", widget)
        super().__init__(
            credential={"api-key": key},
            secret=key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            session=session,
            max_response_bytes=max_response_bytes,
            default_headers=default_headers,
            user_agent_suffix=user_agent_suffix,
            on_request=on_request,
            on_response=on_response,
            on_retry=on_retry,
            on_throttle=on_throttle,
        )

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        view = " view" if self._is_view else ""
        return (
            f"<AsyncClient{view} base_url={self.base_url!r} "
            f"widget_uid={self._widget_uid!r} {state}>"
        )

    @property
    def widget_uid(self) -> str | None:
        """The default widget id, if one was given or found in the environment."""
        return self._widget_uid

    def _widget(self, widget_uid: str | None) -> str:
        if widget_uid is not None:
            return check.uid("widget_uid", widget_uid)
        if self._widget_uid is None:
            raise ConfigurationError(
                "no widget_uid: pass widget_uid= to AsyncClient or to this call, or set "
                "YOURGPT_WIDGET_UID"
            )
        return self._widget_uid  # checked when the client was made

    # -- conversations ---------------------------------------------------------------------

    @calls(CREATE_SESSION)
    async def create_session(
        self,
        *,
        widget_uid: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Session:
        """Create a chat session for the widget.

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second session.

        Args:
            widget_uid: The widget; defaults to the client's.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Returns:
            The new session; pass its ``session_uid`` to the other methods.
        """
        payload = {"widget_uid": self._widget(widget_uid)}
        return await self._caller.call(CREATE_SESSION, payload, retry, timeout, priority)

    @calls(SEND_MESSAGE)
    async def send_message(
        self,
        session_uid: str,
        message: str,
        *,
        send_by: SendBy | str = SendBy.USER,
        widget_uid: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Message:
        """Send a message into a session, as the user, a human operator or the assistant.

        As ``SendBy.USER`` the AI answers and its reply is returned (unless an operator has
        taken the session over). As ``SendBy.OPERATOR`` the session switches to operator mode
        and the AI stays silent until ``update_session(..., chat_mode=ChatMode.BOT)``. As
        ``SendBy.ASSISTANT`` the message is stored as the bot's, with no AI answer. In those
        cases the stored message is returned.

        Not idempotent: after a timeout or dropped connection once the request was sent, it
        raises :class:`~yourgpt_async.DeliveryUnknownError` instead of resending, unless the
        retry policy has ``retry_unsafe=True``, or ``reconcile=True``: then the session's
        newest messages are read back, a message found there is returned as delivered (the
        AI's reply if it is stored already, else the message itself, with ``send_by`` saying
        which), one not found is sent again, and only when the read-back cannot tell is
        ``DeliveryUnknownError`` raised.

        Args:
            session_uid: The session, from :meth:`create_session` or
                :meth:`~yourgpt_async.AsyncClient.get_sessions`.
            message: The text; must not be empty.
            send_by: Who the message is from.
            widget_uid: The widget; defaults to the client's.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Returns:
            The AI's reply to a user message (``is_ai_reply`` true), else the stored message.
        """
        uid = check.uid("session_uid", session_uid)
        text = check.message_text(message)
        sender = check.choice("send_by", send_by, SendBy)
        payload = {
            "widget_uid": self._widget(widget_uid),
            "session_uid": uid,
            "message": text,
            "send_by": sender.value,
        }
        reply = await self._caller.call(SEND_MESSAGE, payload, retry, timeout, priority)
        return sent_message(reply, session_uid=uid, message=text, send_by=sender)

    @calls(UPDATE_SESSION)
    async def update_session(
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
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Returns:
            The session as updated.
        """
        payload = {
            "session_uid": check.uid("session_uid", session_uid),
            **check.session_changes(state, chat_mode, segment),
        }
        return await self._caller.call(UPDATE_SESSION, payload, retry, timeout, priority)

    @calls(GET_SESSIONS)
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

    iter_sessions = iterates(get_sessions)

    @calls(GET_SESSION_MESSAGES)
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

    iter_session_messages = iterates(get_session_messages)

    # -- debugging, knowledge and calls --------------------------------------------------

    @calls(GET_EXECUTION_LOGS)
    async def get_execution_logs(
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
        The page can fetch the next one, and ``async for`` over it goes through every page
        from it on.

        Args:
            session_uid: Only this session's logs.
            date_from: Only logs from this day (a ``date`` or ``"YYYY-MM-DD"``).
            date_to: Only logs up to this day.
            order: ``"DESC"`` (newest first, the service's default) or ``"ASC"``.
            page: The page number, from 1.
            limit: Entries per page, 1 to 100.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Returns:
            The page, with ``has_more`` (and ``total`` when the service sends it).
        """
        query = check.log_query(session_uid, order, date_from, date_to)
        return await self._caller.page(
            GET_EXECUTION_LOGS,
            query,
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    iter_execution_logs = iterates(get_execution_logs)

    @calls(SEARCH_KNOWLEDGEBASE)
    async def search_knowledgebase(
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

        Available on the Professional plan and above: on another plan the service refuses it
        with :class:`~yourgpt_async.PermissionDeniedError`, which says so.

        Args:
            query: What to look for, at most 5,000 characters.
            limit: Most chunks to return, 1 to 100.
            offset: Chunks to skip, for the next results of the same query (``offset=limit``
                gives the second lot).
            node_id: Only chunks of this document (a hit's ``doc_id``).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Returns:
            The matching chunks (empty when nothing matches).
        """
        payload = check.search_query(query, limit, offset, node_id)
        hits = await self._caller.call(SEARCH_KNOWLEDGEBASE, payload, retry, timeout, priority)
        return list(hits)

    @calls(MAKE_OUTBOUND_CALL)
    async def make_outbound_call(
        self,
        agent_id: str,
        call_to: str,
        *,
        extra_data: Mapping[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> OutboundCall:
        """Have the project's voice agent phone a number and hold the conversation.

        Never resent once the request may have reached the service, whatever ``retry_unsafe``
        says: a repeat rings the person twice. After a timeout or a dropped connection it
        raises :class:`~yourgpt_async.DeliveryUnknownError`; only
        ``RetryPolicy(retry_outbound_calls=True)`` resends. A request that never reached the
        service, or was refused with 429 or 503, is retried as any other.

        Args:
            agent_id: The voice agent that makes the call.
            call_to: The number to call, in E.164 form: ``+``, then 8 to 15 digits, the
                country code first (``"+4915112345678"``).
            extra_data: Data the agent may use in the call (``{"contact_data": {...}}``); it
                must encode as JSON.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"`` (a :class:`Priority`); defaults to the
                view's (``with_options``), else interactive.

        Returns:
            What the service says of the call; fields it does not send are ``None``.
        """
        payload: dict[str, Any] = {
            "agent_id": check.uid("agent_id", agent_id),
            "call_to": check.e164("call_to", call_to),
        }
        if extra_data is not None:
            payload["extra_data"] = check.json_object("extra_data", extra_data)
        placed = await self._caller.call(MAKE_OUTBOUND_CALL, payload, retry, timeout, priority)
        if placed is not None:
            return placed
        return OutboundCall(call_to=payload["call_to"], agent_id=payload["agent_id"], raw={})

    # -- bulk ------------------------------------------------------------------------------

    def send_many(
        self,
        items: Iterable[BulkInput] | AsyncIterable[BulkInput],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
        journal: str | os.PathLike[str] | None = None,
        progress: Callable[[BulkSummary], object] | None = None,
        resend_in_doubt: bool = False,
        priority: Priority | str = Priority.BULK,
    ) -> BulkRun[BulkItem, Message]:
        """Send many messages, at most ``concurrency`` at a time, and yield each one's outcome.

        Items are taken lazily, so memory does not grow with the input. Each is sent as
        :meth:`send_message` sends it and gets one outcome: :class:`Sent`, :class:`Failed`
        (invalid, or refused) or :class:`InDoubt` (it may have been delivered). One bad item
        never stops the run; a refused key or access does (:attr:`BulkRun.stopped_by`)::

            async with client.send_many(items, journal="run.jsonl") as run:
                async for outcome in run:
                    ...

        Args:
            items: The messages: :class:`BulkItem` s or ``(session_uid, message[, send_by[,
                key]])`` tuples, in any iterable or async iterable.
            concurrency: Most items in flight at once (default: ``max_concurrency``).
            ordered: Yield outcomes in input order (still with at most ``concurrency`` items
                outstanding) instead of as they complete.
            journal: A file to record progress in and to resume from (created if absent): a
                killed run resumes without resending a delivered message.
            progress: Called with a :class:`BulkSummary` at most every 0.1 s, and at the end.
            resend_in_doubt: On resume, resend what an earlier run left in doubt (some may
                then arrive twice). With ``reconcile=True`` in the retry policy, each one's
                session is read back first: found, ``Sent`` (``settled``); missing, sent.
            priority: The items' :class:`Priority`: bulk, so that interactive calls go first.

        Returns:
            The run: an async iterator of outcomes and an async context manager.

        Raises:
            ConfigurationError: A bad argument or no ``widget_uid`` (at once); another input's
                journal (when iteration starts).
        """
        if self.widget_uid is None:
            raise ConfigurationError(
                "send_many needs the client's widget_uid: pass widget_uid= to AsyncClient or set "
                "YOURGPT_WIDGET_UID"
            )
        return start_run(
            MESSAGES,
            self._caller,
            items,
            fields={"widget_uid": self.widget_uid},
            concurrency=self._max_concurrency if concurrency is None else concurrency,
            priority=priority,
            ordered=ordered,
            journal=journal,
            progress=progress,
            resend_in_doubt=resend_in_doubt,
        )

"""AsyncClient: the five endpoints over one aiohttp session, with validation, retries and pacing.

Every endpoint method validates its arguments, builds a JSON body and hands it to
:meth:`AsyncClient._call`, the one place that sends requests: concurrency gate, rate limiter,
POST, size-capped read, envelope decoding and the retry policy all happen there.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import date
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

import aiohttp

from . import _validate as check
from ._bulk import BulkInput, BulkRun, BulkSummary
from ._config import RateLimit, RetryPolicy, Timeouts
from ._exceptions import ConfigurationError
from ._models import ChatMode, Message, Page, SendBy, Session, SessionMessage, SessionState
from ._ratelimit import Limiter, LimiterFactory, make_limiter
from ._retry import run_with_retries
from ._settle import READ_BACK_LIMIT, Sending, Target, send_reconciled
from ._transport import Transport
from ._wire import (
    CREATE_SESSION,
    GET_SESSION_MESSAGES,
    GET_SESSIONS,
    SEND_MESSAGE,
    UPDATE_SESSION,
    Endpoint,
    encode_body,
)

__all__ = ["DEFAULT_BASE_URL", "AsyncClient"]

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.yourgpt.ai/chatbot/v1"
"""The service's base URL; every endpoint is ``POST <base>/<name>``."""

DEFAULT_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
"""Replies over this many bytes (4 MiB) are refused unread; see ``max_response_bytes``."""

_USER_AGENT: Final = "yourgpt-async/0.1.0"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


class AsyncClient:
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
        timeout: Per-attempt timeouts.
        retry: The default :class:`RetryPolicy`; each method also takes one per call.
        rate_limit: A :class:`RateLimit`, or a shared backend such as ``RedisRateLimit``.
        max_concurrency: Most requests in flight at once for this client.
        session: An ``aiohttp.ClientSession`` to use instead of the client's own; the client
            never closes it.
        max_response_bytes: Replies larger than this are refused unread.

    Raises:
        ConfigurationError: No key, a malformed key or base URL, or a bad setting.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        widget_uid: str | None = None,
        base_url: str | None = None,
        timeout: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | LimiterFactory | None = None,
        max_concurrency: int = 64,
        session: aiohttp.ClientSession | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        key = check.api_key(api_key if api_key is not None else _env("YOURGPT_API_KEY"))
        widget = widget_uid if widget_uid is not None else _env("YOURGPT_WIDGET_UID")
        self._widget_uid = None if widget is None else check.uid("widget_uid", widget)
        if base_url is None:
            base_url = _env("YOURGPT_BASE_URL") or DEFAULT_BASE_URL
        self._base_url = check.base_url(base_url)
        check.instance("timeout", timeout, Timeouts, "a Timeouts")
        check.instance("retry", retry, RetryPolicy, "a RetryPolicy")
        check.instance(
            "rate_limit", rate_limit, (RateLimit, LimiterFactory), "a RateLimit or a shared limiter"
        )
        check.positive_int("max_concurrency", max_concurrency)
        check.positive_int("max_response_bytes", max_response_bytes)
        check.instance("session", session, aiohttp.ClientSession, "an aiohttp.ClientSession")
        self._retry = retry or RetryPolicy()
        self._sending = Sending()  # the sends being reconciled, shared by views of the client
        self._max_concurrency = max_concurrency
        self._transport = Transport(
            base_url=self._base_url,
            headers={
                "api-key": key,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            },
            timeouts=timeout or Timeouts(),
            limiter=make_limiter(rate_limit or RateLimit()),
            max_concurrency=max_concurrency,
            max_response_bytes=max_response_bytes,
            session=session,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._transport.closed else "open"
        return (
            f"<AsyncClient base_url={str(self._base_url)!r} "
            f"widget_uid={self._widget_uid!r} {state}>"
        )

    async def __aenter__(self) -> AsyncClient:
        self._transport.session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's own HTTP session (not one you passed in). Safe to call twice."""
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._transport.closed

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return str(self._base_url)

    @property
    def widget_uid(self) -> str | None:
        """The default widget id, if one was given or found in the environment."""
        return self._widget_uid

    @property
    def limiter(self) -> Limiter:
        """The rate limiter this client paces its requests with."""
        return self._transport.limiter

    def _widget(self, widget_uid: str | None) -> str:
        if widget_uid is not None:
            return check.uid("widget_uid", widget_uid)
        if self._widget_uid is None:
            raise ConfigurationError(
                "no widget_uid: pass widget_uid= to AsyncClient or to this call, or set "
                "YOURGPT_WIDGET_UID"
            )
        return self._widget_uid  # checked when the client was made

    # -- the request cycle -----------------------------------------------------------------

    async def _call(
        self, endpoint: Endpoint[T], payload: Mapping[str, Any], retry: RetryPolicy | None
    ) -> T:
        """Send one call, with retries, and return the endpoint's decoded result."""
        check.instance("retry", retry, RetryPolicy, "a RetryPolicy")
        transport = self._transport
        body = encode_body(payload)
        return await run_with_retries(
            functools.partial(transport.attempt, endpoint, body),
            endpoint=endpoint.name,
            idempotent=endpoint.idempotent,
            policy=retry or self._retry,
        )

    # -- endpoints -------------------------------------------------------------------------

    async def create_session(
        self, *, widget_uid: str | None = None, retry: RetryPolicy | None = None
    ) -> Session:
        """Create a chat session for the widget.

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second session.

        Args:
            widget_uid: The widget; defaults to the client's.
            retry: Overrides the client's retry policy for this call.

        Returns:
            The new session; pass its ``session_uid`` to the other methods.
        """
        return await self._call(CREATE_SESSION, {"widget_uid": self._widget(widget_uid)}, retry)

    async def send_message(
        self,
        session_uid: str,
        message: str,
        *,
        send_by: SendBy | str = SendBy.USER,
        widget_uid: str | None = None,
        retry: RetryPolicy | None = None,
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
            session_uid: The session, from :meth:`create_session` or :meth:`get_sessions`.
            message: The text; must not be empty.
            send_by: Who the message is from.
            widget_uid: The widget; defaults to the client's.
            retry: Overrides the client's retry policy for this call.

        Returns:
            The AI's reply to a user message, else the stored message.
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
        policy = retry or self._retry
        if isinstance(policy, RetryPolicy) and policy.reconcile:
            reply = await self._send_reconciled(payload, policy)
        else:
            reply = await self._call(SEND_MESSAGE, payload, retry)
        if reply is not None:
            return reply
        # Operator and assistant sends may come back without a body: the message as sent.
        return Message(session_uid=uid, message=text, send_by=sender, raw={})

    async def _send_reconciled(
        self, payload: dict[str, str], policy: RetryPolicy
    ) -> Message | None:
        """sendMessage, settling an ambiguous failure by reading the session back."""
        uid = payload["session_uid"]

        async def read(page: int, budget: RetryPolicy) -> Page[SessionMessage]:
            return await self.get_session_messages(
                uid, page=page, limit=READ_BACK_LIMIT, order="DESC", retry=budget
            )

        target = Target.of(
            uid,
            payload["message"],
            payload["send_by"],
            started=time.time(),
            clock_skew=policy.clock_skew,
        )
        return await send_reconciled(
            functools.partial(self._call, SEND_MESSAGE, payload),
            read,
            target,
            policy,
            self._sending,
        )

    async def update_session(
        self,
        session_uid: str,
        *,
        state: SessionState | str | None = None,
        chat_mode: ChatMode | str | None = None,
        segment: str | Sequence[str] | None = None,
        retry: RetryPolicy | None = None,
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

        Returns:
            The session as updated.
        """
        payload: dict[str, Any] = {"session_uid": check.uid("session_uid", session_uid)}
        if state is not None:
            payload["state"] = check.choice("state", state, SessionState).value
        if chat_mode is not None:
            payload["chat_mode"] = check.choice("chat_mode", chat_mode, ChatMode).value
        if payload.get("state") == SessionState.RESOLVED.value and "chat_mode" in payload:
            raise ConfigurationError(
                "state='resolved' cannot be combined with chat_mode: resolving hands the "
                "session back to the bot by itself; send chat_mode in a separate call"
            )
        if segment is not None:
            payload["segment"] = check.segment(segment)
        if len(payload) == 1:
            raise ConfigurationError(
                "nothing to update: pass at least one of state, chat_mode or segment"
            )
        return await self._call(UPDATE_SESSION, payload, retry)

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
    ) -> Page[Session]:
        """Get one page of the project's sessions.

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
            retry: Overrides the client's retry policy for this call.

        Returns:
            The page, with ``total`` when the service sends it and ``has_more``.
        """
        payload = check.sessions_query(order, date_from, date_to, view_id, filters)
        page, limit = check.page_args(page, limit)
        payload["page"], payload["limit"] = page, limit
        items, total = await self._call(GET_SESSIONS, payload, retry)
        return Page(items=items, page=page, limit=limit, total=total)

    async def iter_sessions(
        self,
        *,
        page_size: int = check.MAX_PAGE_SIZE,
        order: Literal["ASC", "DESC"] | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        view_id: int | None = None,
        filters: Sequence[Mapping[str, Any]] | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[Session]:
        """Iterate over all sessions, fetching page after page as needed.

        Args:
            page_size: Sessions per request, 1 to 100.
            order: ``"ASC"`` or ``"DESC"`` by last message time (the service defaults to ASC).
            date_from: Only sessions from this day (a ``date`` or ``"YYYY-MM-DD"``).
            date_to: Only sessions up to this day (the service defaults to today).
            view_id: A saved view of the dashboard.
            filters: Conditions as :meth:`get_sessions` takes them.
            retry: Overrides the client's retry policy for each request.

        Yields:
            Each session, in the order the service lists them.
        """
        check.sessions_query(order, date_from, date_to, view_id, filters)  # validate before I/O
        check.page_args(1, page_size)

        async def fetch(page: int) -> Page[Session]:
            return await self.get_sessions(
                page=page,
                limit=page_size,
                order=order,
                date_from=date_from,
                date_to=date_to,
                view_id=view_id,
                filters=filters,
                retry=retry,
            )

        async for session in _walk(fetch):
            yield session

    async def get_session_messages(
        self,
        session_uid: str,
        *,
        page: int = 1,
        limit: int = 10,
        order: Literal["ASC", "DESC"] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Page[SessionMessage]:
        """Get one page of a session's messages (the user's, the AI's and operators').

        Args:
            session_uid: The session.
            page: The page number, from 1.
            limit: Messages per page, 1 to 100.
            order: ``"ASC"`` (oldest first, the service's default) or ``"DESC"``.
            retry: Overrides the client's retry policy for this call.

        Returns:
            The page, with ``total`` when the service sends it and ``has_more``.
        """
        payload: dict[str, Any] = {"session_uid": check.uid("session_uid", session_uid)}
        sort = check.order(order)
        if sort is not None:
            payload["orderBy"] = sort
        page, limit = check.page_args(page, limit)
        payload["page"], payload["limit"] = page, limit
        items, total = await self._call(GET_SESSION_MESSAGES, payload, retry)
        return Page(items=items, page=page, limit=limit, total=total)

    async def iter_session_messages(
        self,
        session_uid: str,
        *,
        page_size: int = check.MAX_PAGE_SIZE,
        order: Literal["ASC", "DESC"] | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[SessionMessage]:
        """Iterate over all of a session's messages, fetching page after page as needed.

        Args:
            session_uid: The session.
            page_size: Messages per request, 1 to 100.
            order: ``"ASC"`` (oldest first, the service's default) or ``"DESC"``.
            retry: Overrides the client's retry policy for each request.

        Yields:
            Each message, in the order asked for.
        """
        check.uid("session_uid", session_uid)
        check.order(order)
        check.page_args(1, page_size)

        async def fetch(page: int) -> Page[SessionMessage]:
            return await self.get_session_messages(
                session_uid, page=page, limit=page_size, order=order, retry=retry
            )

        async for message in _walk(fetch):
            yield message

    def send_many(
        self,
        items: Iterable[BulkInput] | AsyncIterable[BulkInput],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
        journal: str | os.PathLike[str] | None = None,
        progress: Callable[[BulkSummary], object] | None = None,
        resend_in_doubt: bool = False,
    ) -> BulkRun:
        """Send many messages, at most ``concurrency`` at a time, and yield each one's outcome.

        Items are taken lazily from ``items`` (any iterable or async iterable of
        :class:`BulkItem` or ``(session_uid, message[, send_by[, key]])`` tuples), so memory
        does not grow with the input. Each is sent with :meth:`send_message`, sharing this
        client's retries, rate limiter and concurrency gate, and gets exactly one outcome:
        :class:`Sent`, :class:`Failed` (invalid, checked before any request, or refused) or
        :class:`InDoubt` (it may have been delivered). One bad item never stops the run::

            async with client.send_many(items, journal="run.jsonl") as run:
                async for outcome in run:
                    ...
            print(run.summary())

        With ``journal``, a run killed at any moment resumes without resending a delivered
        message: see :class:`BulkRun` for the journal's rules.

        Args:
            items: The messages to send.
            concurrency: Most items in flight at once; defaults to the client's
                ``max_concurrency``.
            ordered: Yield outcomes in input order (still with at most ``concurrency`` items
                outstanding) instead of as they complete.
            journal: A file to record progress in and to resume from; created if absent.
            progress: Called with a :class:`BulkSummary` as outcomes arrive (at most every
                0.1 s) and once at the end.
            resend_in_doubt: On resume, resend the items an earlier run left in doubt,
                accepting that some may then be delivered twice. When the client's retry
                policy has ``reconcile=True``, each such item's session is read back first:
                found, it is ``Sent`` (``settled``) and not resent; missing, it is sent; only
                the undecidable ones stay ``InDoubt`` (or, with this flag, are resent).

        Returns:
            The run: an async iterator of outcomes and an async context manager.

        Raises:
            ConfigurationError: A bad argument, or no ``widget_uid`` (at once); a journal of
                another input (when iteration starts).
        """
        return BulkRun(
            self,
            items,
            concurrency=self._max_concurrency if concurrency is None else concurrency,
            ordered=ordered,
            journal=journal,
            progress=progress,
            resend_in_doubt=resend_in_doubt,
            reconcile=self._retry if self._retry.reconcile else None,
        )


async def _walk(fetch: Callable[[int], Any]) -> AsyncIterator[Any]:
    page_number = 1
    previous: tuple[Any, ...] = ()
    while True:
        page = await fetch(page_number)
        if page.items and page.items == previous:
            return  # the service ignored `page` and sent the same items again: stop, not loop
        for item in page.items:
            yield item
        if not page.items or not page.has_more:
            return
        previous = page.items
        page_number += 1

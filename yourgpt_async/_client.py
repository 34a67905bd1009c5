"""AsyncClient: the five endpoints over one aiohttp session, with validation, retries and pacing.

Every endpoint method validates its arguments, builds a JSON body and hands it to
its :class:`~._calls.Caller`, the one place that sends requests: concurrency gate, rate limiter,
POST, size-capped read, envelope decoding and the retry policy all happen there. A view made by
:meth:`AsyncClient.with_options` is another ``AsyncClient`` sharing the same transport and
telemetry, with a caller of its own timeouts, retry policy and headers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar

import aiohttp

from . import _validate as check
from ._bulk import BulkInput, BulkRun, BulkSummary
from ._calls import Caller, Timeout, request_headers
from ._config import RateLimit, RetryPolicy, Timeouts
from ._exceptions import ConfigurationError
from ._listing import ListingMethods
from ._models import ChatMode, Message, Priority, SendBy, Session, SessionState
from ._raw import RawMethod
from ._readback import send_message_reconciled
from ._settle import Sending
from ._telemetry import (
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    Telemetry,
    ThrottleEvent,
    setup_logging,
)
from ._transport import Transport
from ._wire import (
    CREATE_SESSION,
    SEND_MESSAGE,
    UPDATE_SESSION,
)
from .pacing._limiter import Limiter, LimiterFactory
from .pacing._local import make_limiter

__all__ = ["DEFAULT_BASE_URL", "AsyncClient"]

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.yourgpt.ai/chatbot/v1"
"""The service's base URL; every endpoint is ``POST <base>/<name>``."""

DEFAULT_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
"""Replies over this many bytes (4 MiB) are refused unread; see ``max_response_bytes``."""


class AsyncClient(ListingMethods):
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
        default_headers: Headers sent with every request, besides the client's own
            (``api-key``, ``Content-Type`` and ``Host`` cannot be set this way).
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

    _is_view = False  # a view made by with_options() shares the transport it does not own

    def __init__(
        self,
        api_key: str | None = None,
        *,
        widget_uid: str | None = None,
        base_url: str | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | LimiterFactory | None = None,
        max_concurrency: int = 64,
        session: aiohttp.ClientSession | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        default_headers: Mapping[str, str] | None = None,
        user_agent_suffix: str | None = None,
        on_request: Callable[[RequestEvent], object] | None = None,
        on_response: Callable[[ResponseEvent], object] | None = None,
        on_retry: Callable[[RetryEvent], object] | None = None,
        on_throttle: Callable[[ThrottleEvent], object] | None = None,
    ) -> None:
        setup_logging()
        key = check.api_key(check.from_env(api_key, "YOURGPT_API_KEY"))
        widget = check.from_env(widget_uid, "YOURGPT_WIDGET_UID")
        self._widget_uid = None if widget is None else check.uid("widget_uid", widget)
        url = check.from_env(base_url, "YOURGPT_BASE_URL")
        self._base_url = check.base_url(DEFAULT_BASE_URL if url is None else url)
        timeouts = Timeouts() if timeout is None else check.timeout(timeout)
        check.instance("retry", retry, RetryPolicy, "a RetryPolicy")
        check.instance(
            "rate_limit", rate_limit, (RateLimit, LimiterFactory), "a RateLimit or a shared limiter"
        )
        check.positive_int("max_concurrency", max_concurrency)
        check.positive_int("max_response_bytes", max_response_bytes)
        check.instance("session", session, aiohttp.ClientSession, "an aiohttp.ClientSession")
        headers = request_headers(key, default_headers, user_agent_suffix)
        self._sending = Sending()  # the sends being reconciled, shared by views of the client
        self._max_concurrency = max_concurrency
        self._transport = Transport(
            base_url=self._base_url,
            headers=headers,
            timeouts=timeouts,
            limiter=make_limiter(rate_limit or RateLimit()),
            max_concurrency=max_concurrency,
            max_response_bytes=max_response_bytes,
            session=session,
        )
        telemetry = Telemetry(
            self._transport.limiter,
            host=self._base_url.host or "",
            on_request=on_request,
            on_response=on_response,
            on_retry=on_retry,
            on_throttle=on_throttle,
        )
        self._caller = Caller(
            self._transport,
            telemetry,
            retry=retry or RetryPolicy(),
            timeouts=timeouts,
            headers=headers,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._transport.closed else "open"
        view = " view" if self._is_view else ""
        return (
            f"<AsyncClient{view} base_url={str(self._base_url)!r} "
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
        """Close the client's own HTTP session (not one you passed in). Safe to call twice.

        On a view made by :meth:`with_options` it does nothing: the views share the client's
        session, which closes with the client.
        """
        if not self._is_view:
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

    # -- views ---------------------------------------------------------------------------

    def with_options(
        self,
        *,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority | str | None = None,
    ) -> AsyncClient:
        """A view of this client with other defaults, sharing its session, limiter and gate.

        Making one costs next to nothing, so it can be made per request or per task::

            fast = yg.with_options(timeout=5, max_retries=0)
            reply = await fast.send_message(session_uid, "Hi")

        The view's calls are paced and counted with the client's own; closing the client closes
        its views, and closing a view does nothing.

        Args:
            timeout: How long one attempt may take: seconds, or a :class:`Timeouts`.
            retry: The retry policy of the view's calls.
            max_retries: Retries after the first attempt (0 for none): ``retry`` (or the
                client's policy) with ``attempts = max_retries + 1``.
            headers: Headers to add to (or replace in) the client's, for every call of the view.
            priority: The :class:`Priority` of the view's calls (direct calls are interactive
                by default): ``"bulk"`` lets every interactive call go first.

        Returns:
            The view, an ``AsyncClient``; views of views add up.
        """
        view = self._fork()
        view._caller = self._caller.with_options(
            timeout=timeout,
            retry=retry,
            max_retries=max_retries,
            headers=headers,
            priority=priority,
        )
        return view

    @property
    def with_raw_response(self) -> RawResponses:
        """The endpoint methods (not ``iter_*``), returning a :class:`RawResponse`.

        ``await yg.with_raw_response.send_message(uid, "Hi")`` sends as ``send_message`` does
        and returns the reply's ``status``, ``headers``, ``request_id``, ``elapsed`` and more;
        its ``parse()`` gives what ``send_message`` would have returned.
        """
        return RawResponses(self)

    def _fork(self) -> AsyncClient:
        view = object.__new__(AsyncClient)
        view.__dict__.update(self.__dict__)
        view._is_view = True
        return view

    # -- endpoints -------------------------------------------------------------------------

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
        reply = await self._send(payload, retry, timeout, priority)
        if reply is not None:
            return reply
        # Operator and assistant sends may come back without a body: the message as sent.
        return Message(session_uid=uid, message=text, send_by=sender, raw={})

    async def _send(
        self,
        payload: dict[str, str],
        retry: RetryPolicy | None,
        timeout: Timeout | None,
        priority: Priority | str | None,
    ) -> Message | None:
        """sendMessage, settled by reading the session back when the policy reconciles."""
        policy = retry or self._caller.retry
        if not (isinstance(policy, RetryPolicy) and policy.reconcile):
            return await self._caller.call(SEND_MESSAGE, payload, retry, timeout, priority)
        send = functools.partial(
            self._caller.call, SEND_MESSAGE, payload, timeout=timeout, priority=priority
        )
        read = functools.partial(self.get_session_messages, timeout=timeout, priority=priority)
        return await send_message_reconciled(send, read, payload, policy, self._sending)

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
        return await self._caller.call(UPDATE_SESSION, payload, retry, timeout, priority)

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
    ) -> BulkRun:
        """Send many messages, at most ``concurrency`` at a time, and yield each one's outcome.

        Items are taken lazily from ``items`` (any iterable or async iterable of
        :class:`BulkItem` or ``(session_uid, message[, send_by[, key]])`` tuples), so memory
        does not grow with the input. Each is sent with :meth:`send_message` and gets exactly
        one outcome: :class:`Sent`, :class:`Failed` (invalid, or refused) or :class:`InDoubt`
        (it may have been delivered). One bad item never stops the run::

            async with client.send_many(items, journal="run.jsonl") as run:
                async for outcome in run:
                    ...
            print(run.summary())

        With ``journal``, a killed run resumes without resending a delivered message (see
        :class:`BulkRun`).

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
                accepting that some may then be delivered twice. With ``reconcile=True`` in
                the retry policy, each one's session is read back first: found, it is ``Sent``
                (``settled``); missing, it is sent; undecidable, ``InDoubt`` (or resent).
            priority: The items' :class:`Priority`: bulk by default, so that the client's
                interactive calls go ahead of them.

        Returns:
            The run: an async iterator of outcomes and an async context manager.

        Raises:
            ConfigurationError: A bad argument, or no ``widget_uid`` (at once); a journal of
                another input (when iteration starts).
        """
        return BulkRun(
            self.with_options(priority=priority),
            items,
            concurrency=self._max_concurrency if concurrency is None else concurrency,
            ordered=ordered,
            journal=journal,
            progress=progress,
            resend_in_doubt=resend_in_doubt,
            reconcile=self._caller.retry if self._caller.retry.reconcile else None,
        )


class RawResponses:
    """``client.with_raw_response``: each endpoint method, returning a ``RawResponse``."""

    create_session = RawMethod(AsyncClient.create_session)
    send_message = RawMethod(AsyncClient.send_message)
    update_session = RawMethod(AsyncClient.update_session)
    get_sessions = RawMethod(AsyncClient.get_sessions)
    get_session_messages = RawMethod(AsyncClient.get_session_messages)

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

"""AsyncClient: the five endpoints over one aiohttp session, with validation, retries and pacing.

Every endpoint method validates its arguments, builds a JSON body and hands it to
:meth:`AsyncClient._call`, the one place that sends requests: concurrency gate, rate limiter,
POST, size-capped read, envelope decoding and the retry policy all happen there.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import aiohttp
import attrs
from multidict import CIMultiDict
from yarl import URL

from ._config import RateLimit, RetryPolicy, Timeouts
from ._converter import converter
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
)
from ._models import ChatMode, Message, Page, SendBy, Session, SessionMessage, SessionState
from ._ratelimit import Limiter, LimiterFactory, make_limiter
from ._retry import parse_retry_after, run_with_retries
from ._validate import api_key as _check_key
from ._validate import base_url as _check_base_url
from ._validate import choice as _choice
from ._validate import day as _day
from ._validate import message_text as _message_text
from ._validate import order as _order
from ._validate import page_args as _page_args
from ._validate import positive_int as _positive_int
from ._validate import segment as _segment
from ._validate import uid as _uid

if TYPE_CHECKING:
    from ._bulk import BulkInput, BulkRun, BulkSummary

__all__ = ["DEFAULT_BASE_URL", "AsyncClient"]

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.yourgpt.ai/chatbot/v1"
"""The service's base URL; every endpoint is ``POST <base>/<name>``."""

DEFAULT_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
_EXCERPT = 200
_USER_AGENT: Final = "yourgpt-async/0.1.0"
_MAX_PAGE_SIZE: Final = 100
_MAX_SEGMENT: Final = 255
_ORDERS: Final = ("ASC", "DESC")

_structure_message: Callable[[Any, type[Message]], Message]
_structure_message = converter.get_structure_hook(Message)
_structure_session: Callable[[Any, type[Session]], Session]
_structure_session = converter.get_structure_hook(Session)
_structure_session_message: Callable[[Any, type[SessionMessage]], SessionMessage]
_structure_session_message = converter.get_structure_hook(SessionMessage)

_encode_json: Final = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps, built once

# Digits to "0", everything else to " ": a run of 19 zeros marks a number orjson may not keep
# exact (it parses integers only up to 64 bits and makes larger ones floats).
_DIGITS: Final = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_NUMBER: Final = b"0" * 19


def _optional_loads() -> Callable[[bytes], Any] | None:
    try:
        module = importlib.import_module("orjson")
    except ImportError:  # the optional `speedups` extra is not installed
        return None
    loads: Callable[[bytes], Any] = module.loads
    return loads


_orjson_loads: Final = _optional_loads()


def _loads(raw: bytes) -> Any:
    """``json.loads``, three times faster through orjson when installed, with the same result.

    orjson is used only where it gives exactly what ``json`` gives: not for a body with a
    number of 19 digits or more (a 64-bit overflow would come back as a float, where ``json``
    keeps the exact integer), and not for what orjson refuses but ``json`` takes (``NaN``,
    lone surrogates, a BOM, UTF-16), which falls through to ``json``.
    """
    if _orjson_loads is not None and _LONG_NUMBER not in raw.translate(_DIGITS):
        try:
            return _orjson_loads(raw)
        except ValueError:
            pass
    return json.loads(raw)


_ERROR_CLASSES: Final[dict[int, type[APIError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


@attrs.frozen
class _Endpoint:
    """An API endpoint: its name and whether repeating a request is harmless."""

    name: str
    idempotent: bool


_CREATE_SESSION = _Endpoint("createSession", idempotent=False)
_SEND_MESSAGE = _Endpoint("sendMessage", idempotent=False)
_UPDATE_SESSION = _Endpoint("updateSession", idempotent=True)
_GET_SESSIONS = _Endpoint("getSessions", idempotent=True)
_GET_SESSION_MESSAGES = _Endpoint("getSessionMessages", idempotent=True)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def _excerpt(body: bytes) -> str:
    return body[:_EXCERPT].decode("utf-8", "replace")


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
        key = _check_key(api_key if api_key is not None else _env("YOURGPT_API_KEY"))
        widget = widget_uid if widget_uid is not None else _env("YOURGPT_WIDGET_UID")
        self._widget_uid = None if widget is None else _uid("widget_uid", widget)
        if base_url is None:
            base_url = _env("YOURGPT_BASE_URL") or DEFAULT_BASE_URL
        self._base_url = _check_base_url(base_url)
        if timeout is not None and not isinstance(timeout, Timeouts):
            raise ConfigurationError(f"timeout must be a Timeouts, got {timeout!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, got {retry!r}")
        if rate_limit is not None and not isinstance(rate_limit, (RateLimit, LimiterFactory)):
            raise ConfigurationError(
                f"rate_limit must be a RateLimit or a shared limiter, got {rate_limit!r}"
            )
        _positive_int("max_concurrency", max_concurrency)
        _positive_int("max_response_bytes", max_response_bytes)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError(f"session must be an aiohttp.ClientSession, got {session!r}")
        t = timeout or Timeouts()
        # A read timeout no shorter than the total one can never fire first; leaving it out
        # spares aiohttp re-arming a timer on every chunk received.
        read = None if t.total is not None and t.read is not None and t.read >= t.total else t.read
        # `connect` covers waiting for a pooled connection as well as opening one.
        self._timeout = aiohttp.ClientTimeout(total=t.total, connect=t.connect, sock_read=read)
        self._retry = retry or RetryPolicy()
        self._max_concurrency = max_concurrency
        self._max_response_bytes = max_response_bytes
        self._limiter: Limiter = make_limiter(rate_limit or RateLimit())
        self._gate = asyncio.Semaphore(max_concurrency)
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._urls = {
            e.name: self._base_url / e.name
            for e in (
                _CREATE_SESSION,
                _SEND_MESSAGE,
                _UPDATE_SESSION,
                _GET_SESSIONS,
                _GET_SESSION_MESSAGES,
            )
        }
        # Built once as the multidict aiohttp would otherwise convert a plain dict into.
        self._headers = CIMultiDict(
            {
                "api-key": key,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            }
        )

    # -- lifecycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<AsyncClient base_url={str(self._base_url)!r} "
            f"widget_uid={self._widget_uid!r} {state}>"
        )

    async def __aenter__(self) -> AsyncClient:
        self._ensure_session()
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
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
        await self._limiter.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

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
        return self._limiter

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this AsyncClient is closed; make a new one to send more requests")
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_concurrency)
            )
        return session

    def _widget(self, widget_uid: str | None) -> str:
        if widget_uid is not None:
            return _uid("widget_uid", widget_uid)
        if self._widget_uid is None:
            raise ConfigurationError(
                "no widget_uid: pass widget_uid= to AsyncClient or to this call, or set "
                "YOURGPT_WIDGET_UID"
            )
        return self._widget_uid  # checked when the client was made

    # -- the request cycle -----------------------------------------------------------------

    async def _call(
        self, endpoint: _Endpoint, payload: Mapping[str, Any], retry: RetryPolicy | None
    ) -> dict[str, Any]:
        """Send one call (with retries) and return the decoded ``RXSUCCESS`` envelope."""
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, got {retry!r}")
        session = self._ensure_session()
        body = _encode_json(payload).encode()
        url = self._urls[endpoint.name]

        return await run_with_retries(
            functools.partial(self._attempt, session, endpoint.name, url, body),
            endpoint=endpoint.name,
            idempotent=endpoint.idempotent,
            policy=retry or self._retry,
        )

    async def _attempt(
        self, session: aiohttp.ClientSession, name: str, url: URL, body: bytes
    ) -> dict[str, Any]:
        # `async with self._gate`, less the two coroutines its __aenter__ and __aexit__ make.
        await self._gate.acquire()
        try:
            ticket = await self._limiter.acquire()
            try:
                # Timeouts and error handling are set per request so that they hold on a
                # session the caller passed in, whatever its own defaults.
                response = await session.post(
                    url,
                    data=body,
                    headers=self._headers,
                    allow_redirects=False,
                    raise_for_status=False,
                    timeout=self._timeout,
                )
                try:
                    status = response.status
                    headers = response.headers
                    raw = await self._read(response, name)
                finally:
                    # What leaving `async with` does, less awaiting the request's writer: the
                    # body was sent before any reply came back (release() cancels a writer
                    # that is somehow still running).
                    response.release()
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
                raise ConnectError(
                    f"{name}: could not connect to {self._base_url.host}: {type(error).__name__}",
                    endpoint=name,
                ) from error
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                raise TransportError(
                    f"{name}: no complete reply after the request was sent "
                    f"({type(error).__name__})",
                    endpoint=name,
                ) from error
            try:
                payload = _loads(raw) if raw else None
            except ValueError:
                payload = None
            if status == 200 and type(payload) is dict and payload.get("type") == "RXSUCCESS":
                self._limiter.on_success(ticket)
                return payload
            failure = self._error(name, status, headers, raw, payload)
            if status in (429, 503):
                self._limiter.on_throttled(ticket, failure.retry_after)
            else:
                self._limiter.on_success(ticket)
            raise failure
        finally:
            self._gate.release()

    async def _read(self, response: aiohttp.ClientResponse, name: str) -> bytes:
        cap = self._max_response_bytes
        length = response.content_length
        # Content-Length counts bytes on the wire, which a Content-Encoding may inflate many
        # times over: it can only refuse early. The cap holds for the decoded body.
        if length is not None and length <= cap and "Content-Encoding" not in response.headers:
            return await response.read()  # not encoded: exactly `length` bytes, one await
        if length is None or length <= cap:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(65536):
                size += len(chunk)
                if size > cap:
                    break
                chunks.append(chunk)
            else:
                return b"".join(chunks)
        response.close()
        raise ResponseTooLargeError(
            f"the reply is larger than max_response_bytes={cap}; it was not read",
            status=response.status,
            endpoint=name,
        )

    def _error(
        self, name: str, status: int, headers: Mapping[str, str], raw: bytes, payload: Any
    ) -> APIError:
        """Build the exception for a reply that is not a successful envelope.

        ``payload`` is ``raw`` decoded, or ``None`` when it is empty or not JSON.
        """
        request_id = headers.get("x-request-id")
        retry_after = parse_retry_after(headers.get("retry-after-ms"))
        if retry_after is not None:
            retry_after /= 1000
        else:
            retry_after = parse_retry_after(headers.get("Retry-After"))
        message = payload.get("message") if isinstance(payload, dict) else None
        is_envelope = isinstance(payload, dict) and payload.get("type") in ("RXERROR", "RXSUCCESS")
        if status == 200 and is_envelope:
            return BadRequestError(
                str(message or "the service answered RXERROR"),
                status=status,
                endpoint=name,
                body=payload,
                request_id=request_id,
            )
        if not is_envelope:
            if status == 429:
                return RateLimitError(
                    "rate limited (HTTP 429)",
                    status=status,
                    endpoint=name,
                    request_id=request_id,
                    retry_after=retry_after,
                )
            if 300 <= status < 400:
                what = "a redirect, which is not followed"
            elif not raw:
                what = "an empty reply"
            elif payload is None:
                what = "a reply that is not JSON"
            else:
                what = "JSON that is not the API's envelope"
            return UnexpectedResponseError(
                f"{what} (content-type {headers.get('Content-Type', 'unknown')})",
                status=status,
                endpoint=name,
                excerpt=_excerpt(raw),
                request_id=request_id,
                retry_after=retry_after,
            )
        error_class = _ERROR_CLASSES.get(status) or (ServerError if status >= 500 else APIError)
        return error_class(
            str(message or f"HTTP {status}"),
            status=status,
            endpoint=name,
            body=payload,
            request_id=request_id,
            retry_after=retry_after,
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
        envelope = await self._call(
            _CREATE_SESSION, {"widget_uid": self._widget(widget_uid)}, retry
        )
        return _structure_session(_data_object(envelope, "createSession"), Session)

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
        retry policy has ``retry_unsafe=True``.

        Args:
            session_uid: The session, from :meth:`create_session` or :meth:`get_sessions`.
            message: The text; must not be empty.
            send_by: Who the message is from.
            widget_uid: The widget; defaults to the client's.
            retry: Overrides the client's retry policy for this call.

        Returns:
            The AI's reply to a user message, else the stored message.
        """
        uid = _uid("session_uid", session_uid)
        text = _message_text(message)
        sender = _choice("send_by", send_by, SendBy)
        payload = {
            "widget_uid": self._widget(widget_uid),
            "session_uid": uid,
            "message": text,
            "send_by": sender.value,
        }
        envelope = await self._call(_SEND_MESSAGE, payload, retry)
        data = envelope.get("data")
        if isinstance(data, dict) and data:
            return _structure_message(data, Message)
        # Operator and assistant sends may come back without a body: the message as sent.
        return Message(session_uid=uid, message=text, send_by=sender, raw={})

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
        payload: dict[str, Any] = {"session_uid": _uid("session_uid", session_uid)}
        if state is not None:
            payload["state"] = _choice("state", state, SessionState).value
        if chat_mode is not None:
            payload["chat_mode"] = _choice("chat_mode", chat_mode, ChatMode).value
        if payload.get("state") == SessionState.RESOLVED.value and "chat_mode" in payload:
            raise ConfigurationError(
                "state='resolved' cannot be combined with chat_mode: resolving hands the "
                "session back to the bot by itself; send chat_mode in a separate call"
            )
        if segment is not None:
            payload["segment"] = _segment(segment)
        if len(payload) == 1:
            raise ConfigurationError(
                "nothing to update: pass at least one of state, chat_mode or segment"
            )
        envelope = await self._call(_UPDATE_SESSION, payload, retry)
        return _structure_session(_data_object(envelope, "updateSession"), Session)

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
        payload = _sessions_query(order, date_from, date_to, view_id, filters)
        page, limit = _page_args(page, limit)
        payload["page"], payload["limit"] = page, limit
        envelope = await self._call(_GET_SESSIONS, payload, retry)
        items = tuple(
            _structure_session(item, Session) for item in _data_list(envelope, "getSessions")
        )
        return Page(items=items, page=page, limit=limit, total=_total(envelope))

    async def iter_sessions(
        self,
        *,
        page_size: int = _MAX_PAGE_SIZE,
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
        _sessions_query(order, date_from, date_to, view_id, filters)  # validate before I/O
        _page_args(1, page_size)

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
        payload: dict[str, Any] = {"session_uid": _uid("session_uid", session_uid)}
        sort = _order(order)
        if sort is not None:
            payload["orderBy"] = sort
        page, limit = _page_args(page, limit)
        payload["page"], payload["limit"] = page, limit
        envelope = await self._call(_GET_SESSION_MESSAGES, payload, retry)
        items = tuple(
            _structure_session_message(item, SessionMessage)
            for item in _data_list(envelope, "getSessionMessages")
        )
        return Page(items=items, page=page, limit=limit, total=_total(envelope))

    async def iter_session_messages(
        self,
        session_uid: str,
        *,
        page_size: int = _MAX_PAGE_SIZE,
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
        _uid("session_uid", session_uid)
        _order(order)
        _page_args(1, page_size)

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

        With ``journal``, each item's start is recorded durably before its request leaves and
        its end once it is known; running again with the same journal and input skips the
        items already delivered and reports those started but never finished as
        :class:`InDoubt` instead of resending them. A journal of another input is refused:
        the first 16 items are read before anything is sent to fingerprint the input, and
        each item without its own ``key`` is checked against its position in the journal.

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
                accepting that some may then be delivered twice.

        Returns:
            The run: an async iterator of outcomes and an async context manager.

        Raises:
            ConfigurationError: A bad argument, or no ``widget_uid`` (at once); a journal of
                another input (when iteration starts).
        """
        from ._bulk import BulkRun  # the bulk engine imports this module

        return BulkRun(
            self,
            items,
            concurrency=self._max_concurrency if concurrency is None else concurrency,
            ordered=ordered,
            journal=journal,
            progress=progress,
            resend_in_doubt=resend_in_doubt,
        )


def _sessions_query(
    order: object,
    date_from: object,
    date_to: object,
    view_id: object,
    filters: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    sort = _order(order)
    if sort is not None:
        payload["orderBy"] = sort
    start, end = _day("date_from", date_from), _day("date_to", date_to)
    if start is not None and end is not None and start > end:
        raise ConfigurationError(f"date_from {start} is after date_to {end}")
    if start is not None:
        payload["from"] = start
    if end is not None:
        payload["to"] = end
    if view_id is not None:
        if isinstance(view_id, bool) or not isinstance(view_id, int):
            raise ConfigurationError(f"view_id must be an int, got {view_id!r}")
        payload["view_id"] = view_id
    if filters is not None:
        if isinstance(filters, (str, bytes, Mapping)) or not isinstance(filters, Sequence):
            raise ConfigurationError(
                f"filters must be a list of {{key, operator, value}} dicts, got {filters!r}"
            )
        conditions = []
        for condition in filters:
            if not isinstance(condition, Mapping) or not {"key", "operator"} <= condition.keys():
                raise ConfigurationError(
                    "each filter must be a dict with at least 'key' and 'operator' (and "
                    f"'value'), got {condition!r}"
                )
            conditions.append({"model": "SESSION", **condition})
        payload["filter"] = conditions
    return payload


def _data_object(envelope: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise UnexpectedResponseError(
            f"expected an object in 'data', got {type(data).__name__}",
            status=200,
            endpoint=name,
            excerpt=repr(data)[:_EXCERPT],
        )
    return data


def _data_list(envelope: Mapping[str, Any], name: str) -> list[Any]:
    data = envelope.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise UnexpectedResponseError(
            f"expected a list in 'data', got {type(data).__name__}",
            status=200,
            endpoint=name,
            excerpt=repr(data)[:_EXCERPT],
        )
    return [item for item in data if isinstance(item, dict)]


def _total(envelope: Mapping[str, Any]) -> int | None:
    total = envelope.get("total")
    if isinstance(total, bool):
        return None
    if isinstance(total, int):
        return total
    if isinstance(total, str) and total.isdigit():
        return int(total)
    return None


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

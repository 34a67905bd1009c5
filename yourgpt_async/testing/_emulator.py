"""The emulator: an in-memory ``aiohttp.web`` imitation of YourGPT's Project Integration API.

It answers the five conversation endpoints as the public reference describes them, and adds what
tests need: a ledger of accepted messages, a record of every request, a per-key rate limit and a
scriptable ``FaultPlan``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web

from ._faults import Fault, FaultKind, FaultPlan
from ._ratelimit import EmulatorRateLimit, limiter_for
from ._responses import error, fault_response, success, truncate
from ._state import (
    DEFAULT_API_KEY,
    DEFAULT_WIDGET_UID,
    OTHER_WIDGET_UID,
    LedgerEntry,
    Message,
    RequestRecord,
    Session,
    State,
    message_item,
    now,
    sent_message,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_WIDGET_UID",
    "OTHER_WIDGET_UID",
    "Emulator",
    "LedgerEntry",
    "RequestRecord",
]

BASE_PATH = "/chatbot/v1"
_MAX_SEGMENT = 255
_MAX_LIMIT = 100
# How long stop() lets a request that arrived while it was stopping finish.
_SHUTDOWN_GRACE = 0.5

_SEND_BY = ("user", "operator", "assistant")
_STATES = ("pending", "unresolved", "resolved", "closed")
_CHAT_MODES = ("bot", "awaiting", "operator")
_ORDERS = ("ASC", "DESC")
_PICKER_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("👍", "I am satisfied", "like"),
    ("👎", "I am not satisfied", "dislike"),
    ("🦸", "Request a human operator", "requesthumanoperator"),
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_Params = Mapping[str, object]


@attrs.frozen
class _Call:
    """What the request cycle needs to know about one request."""

    endpoint: str
    content_type: str
    body: bytes
    api_key: str | None
    project: str | None  # None: the key is missing or unknown


class _RequestError(Exception):
    """Ends a request with an RXERROR reply; raised by validation and lookups."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def response(self) -> web.Response:
        errors = None if self.field is None else {self.field: self.message}
        return error(self.status, self.message, errors=errors)


def _parse_body(content_type: str, body: bytes) -> _Params:
    """Decode a JSON or form-encoded body, whichever it is; the content type breaks ties."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _RequestError(400, "The request body is not UTF-8") from None
    if not text.strip():
        return {}
    is_form = content_type == "application/x-www-form-urlencoded"
    if content_type == "application/json" or (not is_form and text.lstrip()[:1] in "{["):
        try:
            value = json.loads(text)
        except ValueError:
            raise _RequestError(400, "The request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise _RequestError(400, "The request body must be a JSON object")
        return value
    try:
        return dict(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise _RequestError(400, "The request body is neither JSON nor form-encoded") from None


def _invalid(field: str, message: str) -> _RequestError:
    return _RequestError(400, message, field=field)


def _text(params: _Params, field: str) -> str | None:
    value = params.get(field)
    if value is None:
        return None
    if isinstance(value, (bool, float, list, dict)):
        raise _invalid(field, f"{field} must be a string")
    return str(value)


def _required(params: _Params, field: str) -> str:
    value = _text(params, field)
    if value is None or not value.strip():
        raise _invalid(field, f"{field} is required")
    return value


def _choice(params: _Params, field: str, allowed: Sequence[str]) -> str | None:
    value = _text(params, field)
    if value is not None and value not in allowed:
        raise _invalid(field, f"{field} must be one of {', '.join(allowed)}")
    return value


def _int(params: _Params, field: str, *, default: int, minimum: int, maximum: int | None) -> int:
    value = params.get(field)
    if value is None or value == "":
        return default
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"{field} must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise _invalid(field, f"{field} must be {bounds}")
    return value


def _order(params: _Params, *fields: str) -> str:
    for field in fields:
        value = _text(params, field)
        if value is not None:
            if value.upper() not in _ORDERS:
                raise _invalid(field, f"{field} must be ASC or DESC")
            return value.upper()
    return "ASC"


def _date(params: _Params, field: str) -> date | None:
    value = _text(params, field)
    if not value:
        return None
    if _DATE.fullmatch(value):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value)
    raise _invalid(field, f"{field} must be a date YYYY-MM-DD")


def _filters(params: _Params) -> list[Mapping[str, object]]:
    raw = params.get("filter")
    if isinstance(raw, str) and raw.strip():
        try:  # a form body can only carry the conditions as JSON text
            raw = json.loads(raw)
        except ValueError:
            raise _invalid("filter", "filter must be a list of conditions") from None
    if raw is None or raw == "":
        return []
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise _invalid("filter", "filter must be a list of conditions")
    return [condition for condition in raw if isinstance(condition, dict)]


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _matches(item: Mapping[str, object], condition: Mapping[str, object]) -> bool:
    """Apply one getSessions filter condition; conditions it cannot apply match everything."""
    key = condition.get("key")
    model = str(condition.get("model", "SESSION")).upper()
    if model != "SESSION" or not isinstance(key, str) or key not in item:
        return True
    operator = str(condition.get("operator", "=")).lower()
    actual, expected = _as_text(item[key]), condition.get("value")
    if operator in ("=", "==", "eq"):
        return actual == _as_text(expected)
    if operator in ("!=", "<>", "ne", "neq"):
        return actual != _as_text(expected)
    if operator == "in" and isinstance(expected, list):
        return actual in {_as_text(value) for value in expected}
    return True


def _page(items: Sequence[object], page: int, limit: int) -> list[object]:
    return list(items[(page - 1) * limit : page * limit])


class Emulator:
    """An in-memory YourGPT Project Integration API, served over real loopback HTTP.

    Use it as an async context manager, which starts a server on an ephemeral port::

        async with Emulator() as emu:
            client = AsyncClient(emu.api_key, widget_uid=emu.widget_uid, base_url=emu.base_url)
            ...
            assert emu.delivered("Hi") == 1

    ``emu.app`` is the ``aiohttp.web.Application``, usable with aiohttp's own test utilities
    instead of ``start()``.

    Behaviour, per the public reference (all endpoints are ``POST <base_url>/<name>`` and accept
    both JSON and form-encoded bodies; a body that is neither is HTTP 400):

    - A missing or unknown ``api-key`` header is HTTP 401; a widget of another project is 403; an
      unknown widget, a missing or invalid field is 400 with ``errors``; an unknown session (or one
      of another project or widget) is HTTP 200 with RXERROR "Session not found"; an unknown
      endpoint is 404 and a method other than POST is 405.
    - createSession sends ``session_uid`` as a bare 17-digit JSON number (above 2^53); every other
      endpoint sends it as a string. Session uids count up from 17226012685401506.
    - sendMessage with ``send_by=user`` stores the message and, while the session is in bot
      mode, a deterministic AI reply, which is the reply's ``data``: its text is
      ``"You said: <message>"``; when the message ends with ``"?"`` its ``content_type`` is
      ``"picker"`` with the choices like, dislike and requesthumanoperator, otherwise
      ``"text"`` with no choices. ``ai_latency`` seconds
      pass between storing the message and storing the reply (whether to reply is decided when
      the message is stored; a client that gives up meanwhile does not stop it). In operator or
      awaiting mode
      there is no reply and ``data`` is the stored message. ``send_by=operator`` switches the
      session to operator mode (until updateSession sets ``chat_mode=bot`` or ``state=resolved``);
      operator and assistant messages get no reply; ``data`` is the stored message.
    - getSessions lists the key's project's sessions ordered by last activity (the last
      message, or the creation of a session without messages), oldest first for ASC. ``from`` and
      ``to`` bound the creation date (UTC, inclusive). ``filter`` conditions on the listed session
      fields support the operators ``=``/``eq``, ``!=``/``ne`` and ``in``; conditions on other
      models or unknown fields, other operators and ``view_id`` are accepted and ignored. A form
      body may carry ``filter`` as JSON text.
    - getSessionMessages lists a session's messages by id; the order field may be named
      ``orderBy`` or ``order``.
    - Pages: page ``p`` of size ``l`` holds items ``[(p-1)*l : p*l]``; ``total`` counts all items.

    With ``rate_limit``, every authenticated request takes a token from its key's bucket; without
    one it is answered 429 (``Retry-After`` in whole seconds and ``retry-after-ms``) and not
    processed. The ``fault_plan`` is consulted first, before authentication, the way a proxy
    in front of the service would fail.

    Attributes:
        ledger: Every message accepted from sendMessage, in order (never the AI's replies).
        requests: A :class:`RequestRecord` for every request received, faulted and rejected
            ones too.
        fault_plan: The faults to apply to the coming requests; may be changed at any time.
    """

    def __init__(
        self,
        *,
        api_keys: Mapping[str, str] | None = None,
        widgets: Mapping[str, str] | None = None,
        rate_limit: EmulatorRateLimit | None = None,
        fault_plan: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ai_latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set up the emulator; nothing is served until ``start()``.

        Args:
            api_keys: API key to project id. Default: ``{DEFAULT_API_KEY: "project-1"}``.
            widgets: Widget uid to project id. Default: ``DEFAULT_WIDGET_UID`` in ``"project-1"``
                and ``OTHER_WIDGET_UID`` in ``"project-2"``. Each project id is sent as the
                session's integer ``project_id``, numbered 1, 2, ... in order of appearance.
            rate_limit: Per-key token bucket; ``None`` never answers 429 on its own.
            fault_plan: Faults to apply; default an empty plan.
            host: The interface to listen on.
            port: The port to listen on; 0 picks a free one.
            ai_latency: Seconds the AI "thinks" before replying to a user message.
            clock: Monotonic clock in seconds, for the rate limiter (inject a fake one in tests).

        Raises:
            ValueError: ``api_keys`` or ``widgets`` is empty, or ``ai_latency`` is negative.
        """
        self._state = State(api_keys, widgets)
        if not ai_latency >= 0:
            raise ValueError(f"ai_latency must be >= 0, got {ai_latency!r}")
        self._limiter = limiter_for(rate_limit)
        self._host = host
        self._port = port
        self._ai_latency = ai_latency
        self._clock = clock
        self.fault_plan = FaultPlan() if fault_plan is None else fault_plan
        self.requests: list[RequestRecord] = []
        self._endpoints: dict[str, Callable[[_Params, str], Awaitable[web.Response]]] = {
            "createSession": self._create_session,
            "sendMessage": self._send_message,
            "updateSession": self._update_session,
            "getSessions": self._get_sessions,
            "getSessionMessages": self._get_session_messages,
        }
        self._app = web.Application()
        self._app.router.add_route("*", BASE_PATH + "/{endpoint}", self._handle)
        self._app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner: web.AppRunner | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._base_url: str | None = None
        self._stopped = False

    # -- public surface ---------------------------------------------------------------------

    # The ledger belongs to the state, where sendMessage writes it; these keep ``ledger`` the
    # plain attribute the class docstring describes (readable, clearable and replaceable).
    @property
    def ledger(self) -> list[LedgerEntry]:
        return self._state.ledger

    @ledger.setter
    def ledger(self, entries: list[LedgerEntry]) -> None:
        self._state.ledger = entries

    @property
    def app(self) -> web.Application:
        """The ``aiohttp.web.Application`` that serves the API under ``/chatbot/v1``."""
        return self._app

    @property
    def api_key(self) -> str:
        """The first configured API key (``DEFAULT_API_KEY`` by default)."""
        return next(iter(self._state.api_keys))

    @property
    def widget_uid(self) -> str:
        """The first widget of ``api_key``'s project (or the first widget of all, if none)."""
        project = self._state.api_keys[self.api_key]
        owned = (uid for uid, owner in self._state.widgets.items() if owner == project)
        return next(owned, next(iter(self._state.widgets)))

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>/chatbot/v1``, once started.

        Raises:
            RuntimeError: The emulator is not serving.
        """
        if self._base_url is None:
            raise RuntimeError("the emulator is not serving; use start() or `async with`")
        return self._base_url

    async def start(self) -> None:
        """Start serving on ``host``:`port`.

        Raises:
            RuntimeError: It was already started.
            OSError: The address cannot be bound.
        """
        if self._runner is not None or self._stopped:
            raise RuntimeError("an Emulator can be started only once")
        runner = web.AppRunner(self._app, shutdown_timeout=_SHUTDOWN_GRACE)
        await runner.setup()
        self._runner = runner
        try:
            site = web.TCPSite(runner, self._host, self._port, backlog=1024)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        host, port = runner.addresses[0][:2]
        netloc = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{netloc}:{port}{BASE_PATH}"

    async def stop(self) -> None:
        """Stop serving; a repeat call is a no-op.

        Requests still in progress (they can only be waiting in a latency fault or in
        ``ai_latency``) are cut off rather than waited for; their clients see the connection close.
        """
        self._stopped = True
        self._base_url = None
        in_flight = [task for task in self._in_flight if not task.done()]
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        """Start serving and return the emulator."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    def request_count(self, endpoint: str | None = None) -> int:
        """Count the requests received, faulted and rejected ones included.

        Args:
            endpoint: Count only this endpoint's requests; ``None`` counts all.

        Returns:
            The number of requests.
        """
        return sum(1 for record in self.requests if endpoint in (None, record.endpoint))

    def count_status(self, status: int | None) -> int:
        """Count the requests answered with an HTTP status.

        Args:
            status: The status, e.g. 429; ``None`` counts dropped connections.

        Returns:
            The number of requests.
        """
        return sum(1 for record in self.requests if record.status == status)

    def delivered(self, message: str) -> int:
        """Count the accepted messages with this exact text (AI replies are not counted).

        Args:
            message: The text.

        Returns:
            How many times it was delivered.
        """
        return sum(1 for entry in self.ledger if entry.message == message)

    def reset(self) -> None:
        """Forget the ledger, the request records, the fault plan and the rate-limit buckets.

        Sessions and their messages are kept, so a test can reset the bookkeeping after its
        setup and assert only on what follows.
        """
        self.ledger.clear()
        self.requests.clear()
        self.fault_plan.clear()
        if self._limiter is not None:
            self._limiter.reset()

    # -- request cycle ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info.get("endpoint") or request.path
        api_key = request.headers.get("api-key")
        project = None if api_key is None else self._state.api_keys.get(api_key)
        fault: Fault | None = None
        response: web.Response | None = None
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            try:
                body = await request.read()
            except web.HTTPException as exc:  # e.g. body over client_max_size
                response = error(exc.status, exc.reason)
                return response
            if endpoint not in self._endpoints:
                response = error(404, "Endpoint not found")
            elif request.method != "POST":
                response = error(405, "Method not allowed", headers={"Allow": "POST"})
            else:
                fault = self.fault_plan.next_fault(endpoint)
                call = _Call(endpoint, request.content_type, body, api_key, project)
                response = await self._serve(call, fault)
        finally:
            status = None if response is None else response.status
            kind = None if fault is None else fault.kind.value
            self.requests.append(RequestRecord(endpoint, status, kind, project is not None))
            if task is not None:
                self._in_flight.discard(task)
        if response is None:
            # Drop: close the socket without a reply. aiohttp then fails to write the response
            # below, takes it for a client gone away and logs nothing above debug level; the
            # client sees the connection closed (ServerDisconnectedError).
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)  # never sent; only the access log shows it
        return response

    async def _serve(self, call: _Call, fault: Fault | None) -> web.Response | None:
        """Apply ``fault`` around processing; ``None`` means drop the connection."""
        if fault is not None and not fault.kind.processes_request:
            return fault_response(fault)
        if fault is not None and fault.kind is FaultKind.LATENCY:
            await asyncio.sleep(fault.seconds)
        response = await self._process(call)
        if fault is not None and fault.kind is FaultKind.DROP_AFTER:
            return None
        if fault is not None and fault.kind is FaultKind.TRUNCATED:
            return truncate(response)
        return response

    async def _process(self, call: _Call) -> web.Response:
        if call.api_key is None or call.project is None:
            return error(401, "Invalid API key")
        if self._limiter is not None:
            decision = self._limiter.take(call.api_key, self._clock())
            if not decision.allowed:
                return error(429, "Too many requests", headers=decision.headers)
        try:
            params = _parse_body(call.content_type, call.body)
            return await self._endpoints[call.endpoint](params, call.project)
        except _RequestError as exc:
            return exc.response()

    # -- state helpers ----------------------------------------------------------------------

    def _widget(self, params: _Params, project: str) -> str:
        widget_uid = _required(params, "widget_uid")
        owner = self._state.widgets.get(widget_uid)
        if owner is None:
            raise _invalid("widget_uid", "widget_uid is invalid")
        if owner != project:
            raise _RequestError(403, "You do not have access to this widget")
        return widget_uid

    def _session(self, session_uid: str, project: str, widget_uid: str | None = None) -> Session:
        session = self._state.sessions.get(session_uid)
        if (
            session is None
            or session.project != project
            or widget_uid not in (None, session.widget_uid)
        ):
            raise _RequestError(200, "Session not found")
        return session

    # -- endpoints (no await between reading and writing shared state) ------------------------

    async def _create_session(self, params: _Params, project: str) -> web.Response:
        widget_uid = self._widget(params, project)
        session = self._state.new_session(widget_uid, project)
        data = self._state.session_object(session)
        data["session_uid"] = int(session.session_uid)  # the one place it is a bare number
        return success("Session created successfully", data)

    async def _send_message(self, params: _Params, project: str) -> web.Response:
        widget_uid = self._widget(params, project)
        session_uid = _required(params, "session_uid")
        text = _required(params, "message")
        send_by = _choice(params, "send_by", _SEND_BY) or "user"
        session = self._session(session_uid, project, widget_uid)
        stored = self._state.store(session, send_by, text)
        self._state.ledger.append(LedgerEntry(stored.id, session_uid, send_by, text, widget_uid))
        if send_by == "operator":
            session.chat_mode = "operator"
        if send_by != "user" or session.chat_mode != "bot":
            return success("Message sent successfully", sent_message(stored, session))
        if self._ai_latency:
            await asyncio.sleep(self._ai_latency)
        question = text.rstrip().endswith("?")
        reply = self._state.store(
            session,
            "assistant",
            f"You said: {text}",
            content_type="picker" if question else "text",
            choices=[
                {"icon": icon, "text": label, "value": value, "enabled": True}
                for icon, label, value in (_PICKER_CHOICES if question else ())
            ],
            response_source="ai",
        )
        self._state.log_ai_reply(stored, reply)
        return success("AI reply", sent_message(reply, session))

    async def _update_session(self, params: _Params, project: str) -> web.Response:
        session_uid = _required(params, "session_uid")
        state = _choice(params, "state", _STATES)
        chat_mode = _choice(params, "chat_mode", _CHAT_MODES)
        segment = _text(params, "segment")
        if segment is not None and len(segment) > _MAX_SEGMENT:
            raise _invalid("segment", f"segment must be at most {_MAX_SEGMENT} characters")
        if state == "resolved" and chat_mode is not None:
            raise _invalid("chat_mode", "chat_mode cannot be changed together with state=resolved")
        session = self._session(session_uid, project)
        if state is not None:
            session.state = state
        if state == "resolved":
            chat_mode = "bot"
        if chat_mode is not None:
            session.chat_mode = chat_mode
        if segment is not None:
            session.segment = segment
        if (state, chat_mode, segment) != (None, None, None):
            session.updated_at = now()
        data = self._state.session_object(session)
        data["language"] = "en"
        return success("Session updated successfully", data)

    async def _get_sessions(self, params: _Params, project: str) -> web.Response:
        start, end = _date(params, "from"), _date(params, "to")
        order = _order(params, "orderBy")
        limit = _int(params, "limit", default=10, minimum=1, maximum=_MAX_LIMIT)
        page = _int(params, "page", default=1, minimum=1, maximum=None)
        _int(params, "view_id", default=0, minimum=0, maximum=None)  # validated, then ignored
        conditions = _filters(params)
        sessions = sorted(
            (
                session
                for session in self._state.sessions_of(project)
                if (start is None or session.created_at.date() >= start)
                and (end is None or session.created_at.date() <= end)
            ),
            key=lambda session: session.activity,
            reverse=order == "DESC",
        )
        items = [self._state.session_item(session) for session in sessions]
        items = [item for item in items if all(_matches(item, c) for c in conditions)]
        return success("Sessions fetched successfully", _page(items, page, limit), total=len(items))

    async def _get_session_messages(self, params: _Params, project: str) -> web.Response:
        session_uid = _required(params, "session_uid")
        order = _order(params, "orderBy", "order")
        limit = _int(params, "limit", default=10, minimum=1, maximum=_MAX_LIMIT)
        page = _int(params, "page", default=1, minimum=1, maximum=None)
        session = self._session(session_uid, project)
        messages: Iterable[Message] = session.messages
        if order == "DESC":
            messages = reversed(session.messages)
        items = [message_item(message) for message in messages]
        return success("Messages fetched successfully", _page(items, page, limit), total=len(items))

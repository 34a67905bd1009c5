"""The five endpoints: reading a request body (JSON or form-encoded), checking its parameters,
and answering createSession, sendMessage, updateSession, getSessions and getSessionMessages from
the emulator's :class:`~._state.State`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date

from aiohttp import web

from ._responses import error, success
from ._state import LedgerEntry, Message, Session, State, message_item, now, sent_message

__all__ = ["Handlers"]

_MAX_SEGMENT = 255
_MAX_LIMIT = 100

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


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # JSON's only way to a surrogate


def _is_unicode(value: object) -> bool:
    """Whether ``value``'s text can be encoded (no lone surrogate: a pair decodes as one)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
        except RecursionError:
            raise _RequestError(400, "The request body is nested too deeply") from None
        if not isinstance(value, dict):
            raise _RequestError(400, "The request body must be a JSON object")
        if _SURROGATE_ESCAPE.search(text) and not _is_unicode(value):
            # Stored, a lone surrogate would break every later reply that shows it.
            raise _RequestError(400, "The request body has text that is not valid Unicode")
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


class Handlers:
    """The endpoints, by name, answering from ``state``.

    Args:
        state: The emulator's data, read and changed by the endpoints.
        ai_latency: Seconds the AI "thinks" before replying to a user message.
    """

    def __init__(self, state: State, *, ai_latency: float) -> None:
        self._state = state
        self._ai_latency = ai_latency
        self._endpoints: dict[str, Callable[[_Params, str], Awaitable[web.Response]]] = {
            "createSession": self._create_session,
            "sendMessage": self._send_message,
            "updateSession": self._update_session,
            "getSessions": self._get_sessions,
            "getSessionMessages": self._get_session_messages,
        }

    def serves(self, endpoint: str) -> bool:
        """Whether ``endpoint`` is one of the API's endpoints."""
        return endpoint in self._endpoints

    async def handle(
        self, endpoint: str, content_type: str, body: bytes, project: str
    ) -> web.Response:
        """Answer a request of ``project``'s key to ``endpoint``, one that ``serves``.

        A body that cannot be read, an invalid parameter or an unknown session is answered with
        an RXERROR reply.
        """
        try:
            params = _parse_body(content_type, body)
            return await self._endpoints[endpoint](params, project)
        except _RequestError as exc:
            return exc.response()

    # -- lookups ------------------------------------------------------------------------------

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

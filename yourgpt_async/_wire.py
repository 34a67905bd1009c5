"""The wire format, with no I/O: encode a request body, decode a reply, decide what a failure is.

:func:`decode_reply` is the one place that reads what the service sent back. Given the endpoint,
the HTTP status, the headers and the body bytes, it returns the endpoint's model, or an
:class:`~yourgpt_async.APIError` whose ``kind`` says what the failure means: the retry policy,
the rate limiter and bulk sending all act on that one decision. Being pure, it is tested on the
sample replies alone, with no server.

Envelope rules (``API.md``): a success is HTTP 200 with ``{"type": "RXSUCCESS", "data": …}``;
an error is ``{"type": "RXERROR", "message": …}`` with 400/401/403, and sometimes with 200.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Final, Generic, TypeVar

import attrs

from ._converter import converter
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    FailureKind,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from ._models import Message, Session, SessionMessage

__all__ = [
    "CREATE_SESSION",
    "GET_SESSIONS",
    "GET_SESSION_MESSAGES",
    "SEND_MESSAGE",
    "UPDATE_SESSION",
    "Endpoint",
    "decode_reply",
    "encode_body",
    "loads",
    "parse_retry_after",
]

T = TypeVar("T")

EXCERPT: Final = 200
"""How many characters of an unreadable body an error keeps, for diagnosis."""

# -- encoding --------------------------------------------------------------------------------

_encode_json: Final = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps, built once


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The JSON body of a request (every endpoint takes JSON)."""
    return _encode_json(payload).encode()


# -- decoding JSON ---------------------------------------------------------------------------

# Digits to "0", everything else to " ": a run of 19 zeros marks a number orjson may not keep
# exact (it parses integers only up to 64 bits and makes larger ones floats).
_DIGITS: Final = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_NUMBER: Final = b"0" * 19


def _optional_loads() -> Callable[[bytes], Any] | None:
    try:
        module = importlib.import_module("orjson")
    except ImportError:  # the optional `speedups` extra is not installed
        return None
    orjson_loads: Callable[[bytes], Any] = module.loads
    return orjson_loads


_orjson_loads: Final = _optional_loads()


def loads(raw: bytes) -> Any:
    """``json.loads``, three times faster through orjson when installed, with the same result.

    orjson is used only where it gives exactly what ``json`` gives: not for a body with a
    number of 19 digits or more (a 64-bit overflow would come back as a float, where ``json``
    keeps the exact integer), and not for what orjson refuses but ``json`` takes (``NaN``,
    lone surrogates, a BOM, UTF-16), which falls through to ``json``.

    An integer of more digits than Python converts decodes to ``None``.

    Raises:
        ValueError: The body is not JSON, or nests deeper than a parser will follow.
    """
    if _orjson_loads is not None and _LONG_NUMBER not in raw.translate(_DIGITS):
        try:
            return _orjson_loads(raw)
        except ValueError:
            pass
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None
    except ValueError as error:
        if "integer string conversion" not in str(error):
            raise
    # A number of more digits than Python converts (4,300): out of any range, so None, as
    # the converter makes of other out-of-range numbers, rather than an unreadable reply.
    return json.loads(raw, parse_int=_int_or_none)


def _int_or_none(digits: str) -> int | None:
    try:
        return int(digits)
    except ValueError:
        return None


# -- Retry-After -----------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date.

    Fractional seconds are accepted too. Returns ``None`` when absent or unreadable; a date in
    the past gives 0.

    Args:
        value: The header's value.
        now: The current wall-clock time (seconds since the epoch), for tests.
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait a reply asks for: ``retry-after-ms`` when sent, else ``Retry-After``."""
    millis = parse_retry_after(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    return parse_retry_after(headers.get("Retry-After"))


# -- endpoints -------------------------------------------------------------------------------


@attrs.frozen
class Endpoint(Generic[T]):
    """An API endpoint: its name, whether repeating a request is harmless, and how its
    ``RXSUCCESS`` envelope becomes a result."""

    name: str
    idempotent: bool
    parse: Callable[[dict[str, Any]], T] = attrs.field(repr=False)


class _Shape(Exception):
    """The envelope is a success but ``data`` does not have the endpoint's shape."""


def _data_object(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise _Shape(f"expected an object in 'data', got {type(data).__name__}")
    return data


def _data_list(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    data = envelope.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise _Shape(f"expected a list in 'data', got {type(data).__name__}")
    return [item for item in data if isinstance(item, dict)]


def _total(envelope: dict[str, Any]) -> int | None:
    total = envelope.get("total")
    if isinstance(total, bool):
        return None
    if isinstance(total, int):
        return total
    if isinstance(total, str) and total.isdigit():
        return int(total)
    return None


_structure_message = converter.get_structure_hook(Message)
_structure_session = converter.get_structure_hook(Session)
_structure_session_message = converter.get_structure_hook(SessionMessage)


def _session(envelope: dict[str, Any]) -> Session:
    return _structure_session(_data_object(envelope), Session)  # type: ignore[no-any-return]


def _sent_message(envelope: dict[str, Any]) -> Message | None:
    data = envelope.get("data")
    if isinstance(data, dict) and data:
        return _structure_message(data, Message)  # type: ignore[no-any-return]
    return None  # operator and assistant sends may come back without a body


def _sessions(envelope: dict[str, Any]) -> tuple[tuple[Session, ...], int | None]:
    items = tuple(_structure_session(item, Session) for item in _data_list(envelope))
    return items, _total(envelope)


def _session_messages(
    envelope: dict[str, Any],
) -> tuple[tuple[SessionMessage, ...], int | None]:
    items = tuple(_structure_session_message(item, SessionMessage) for item in _data_list(envelope))
    return items, _total(envelope)


CREATE_SESSION: Final = Endpoint("createSession", idempotent=False, parse=_session)
SEND_MESSAGE: Final = Endpoint("sendMessage", idempotent=False, parse=_sent_message)
UPDATE_SESSION: Final = Endpoint("updateSession", idempotent=True, parse=_session)
GET_SESSIONS: Final = Endpoint("getSessions", idempotent=True, parse=_sessions)
GET_SESSION_MESSAGES: Final = Endpoint(
    "getSessionMessages", idempotent=True, parse=_session_messages
)
ENDPOINTS: Final = (
    CREATE_SESSION,
    SEND_MESSAGE,
    UPDATE_SESSION,
    GET_SESSIONS,
    GET_SESSION_MESSAGES,
)

# -- replies ---------------------------------------------------------------------------------

_ERROR_CLASSES: Final[dict[int, type[APIError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def status_kind(status: int) -> FailureKind:
    """What an error status means, whatever the body says."""
    if status in (429, 503):
        return FailureKind.THROTTLED
    if status >= 500:
        return FailureKind.SERVER
    return FailureKind.REJECTED


def excerpt(body: bytes) -> str:
    """The start of a body as text, for an error message."""
    return body[:EXCERPT].decode("utf-8", "replace")


def decode_reply(
    endpoint: Endpoint[T], status: int, headers: Mapping[str, str], body: bytes
) -> T | APIError:
    """Turn one reply into the endpoint's result, or the error that says what went wrong.

    Never raises: whatever the service sent, the answer is a result or an
    :class:`~yourgpt_async.APIError` (returned, not raised) with its ``kind`` set.
    """
    try:
        payload = loads(body) if body else None
    except ValueError:
        payload = None
    if status == 200 and type(payload) is dict and payload.get("type") == "RXSUCCESS":
        try:
            return endpoint.parse(payload)
        except Exception as error:
            detail = str(error) if isinstance(error, _Shape) else "its data cannot be decoded"
            return UnexpectedResponseError(
                f"a success reply whose data is not what {endpoint.name} returns: {detail}",
                status=status,
                endpoint=endpoint.name,
                excerpt=excerpt(body),
                request_id=headers.get("x-request-id"),
                kind=FailureKind.UNREADABLE,
            )
    return _failure(endpoint.name, status, headers, body, payload)


# What the service's RXERROR texts mean, by their text: the class a caller would catch and
# what to do. Matched case-insensitively, ignoring a final full stop. The class applies to an
# RXERROR at HTTP 200, whose status says nothing; otherwise the status decides the class and the
# text only the advice.
_KNOWN_TEXTS: Final[dict[str, tuple[type[APIError], str]]] = {
    "session not found": (
        NotFoundError,
        "check session_uid: this project has no such session (get_sessions lists them)",
    ),
    "invalid api key": (
        AuthenticationError,
        "check the API key (YOURGPT_API_KEY): it is missing, mistyped or revoked",
    ),
    "you do not have access to this widget": (
        PermissionDeniedError,
        "check widget_uid: the key's project does not own that widget",
    ),
    "widget_uid is invalid": (BadRequestError, "check widget_uid: no widget has that id"),
}

# What to do about an error status, when the text is not one of the known ones.
_STATUS_HINTS: Final[dict[int, str]] = {
    401: "check the API key (YOURGPT_API_KEY): it is missing, mistyped or revoked",
    403: "the key has no access to that widget or session: check the key and widget_uid",
    404: "check base_url: it should end in /chatbot/v1",
    429: "the service is rate limiting this key: send more slowly (see RateLimit) or later",
}


def known_text(message: str) -> tuple[type[APIError], str] | None:
    """The class and advice for an RXERROR text the service is known to send, if it is one."""
    return _KNOWN_TEXTS.get(message.strip().rstrip(".").lower())


def _hint(status: int, known: tuple[type[APIError], str] | None) -> str:
    if known is not None:
        return known[1]
    if status >= 500:
        return "the service failed; try again later"
    return _STATUS_HINTS.get(status, "")


def _failure(
    name: str, status: int, headers: Mapping[str, str], body: bytes, payload: Any
) -> APIError:
    is_envelope = isinstance(payload, dict) and payload.get("type") in ("RXERROR", "RXSUCCESS")
    if not is_envelope:
        return _unexpected(name, status, headers, body, payload)
    request_id = headers.get("x-request-id")
    message = payload.get("message")
    text = message if isinstance(message, str) and message else None
    known = known_text(text) if text is not None else None
    if status == 200:
        return (known[0] if known is not None else BadRequestError)(
            text or "the service refused the request (RXERROR) without saying why",
            status=status,
            endpoint=name,
            body=payload,
            request_id=request_id,
            hint=_hint(status, known),
        )
    error_class = _ERROR_CLASSES.get(status) or (ServerError if status >= 500 else APIError)
    return error_class(
        text or f"HTTP {status}",
        status=status,
        endpoint=name,
        body=payload,
        request_id=request_id,
        retry_after=retry_after(headers),
        kind=status_kind(status),
        hint=_hint(status, known),
    )


def _unexpected(
    name: str, status: int, headers: Mapping[str, str], body: bytes, payload: Any
) -> APIError:
    """An error for a reply that is not the API's envelope at all."""
    request_id = headers.get("x-request-id")
    wait = retry_after(headers)
    if status == 429:
        return RateLimitError(
            "rate limited (HTTP 429)",
            status=status,
            endpoint=name,
            request_id=request_id,
            retry_after=wait,
        )
    if 300 <= status < 400:
        what = "a redirect, which is not followed"
    elif not body:
        what = "an empty reply"
    elif payload is None:
        what = "a reply that is not JSON"
    else:
        what = "JSON that is not the API's envelope"
    kind = FailureKind.UNREADABLE if 200 <= status < 300 else status_kind(status)
    return UnexpectedResponseError(
        f"{what} (content-type {headers.get('Content-Type', 'unknown')})",
        status=status,
        endpoint=name,
        excerpt=excerpt(body),
        request_id=request_id,
        retry_after=wait,
        kind=kind,
    )

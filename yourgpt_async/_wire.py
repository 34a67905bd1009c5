"""The wire format, with no I/O: encode a request body, decode a reply, decide what a failure is.

:func:`decode_reply` is the one place that reads what the service sent back. Given the endpoint,
the HTTP status, the headers and the body bytes, it returns the endpoint's model, or an
:class:`~yourgpt_async.APIError` whose ``kind`` says what the failure means: the retry policy,
the rate limiter and bulk sending all act on that one decision. Being pure, it is tested on the
sample replies alone, with no server.

Envelope rules (``API.md``): a success is HTTP 200 (any 2xx is taken) with ``{"type":
"RXSUCCESS", "data": …}``; an error is ``{"type": "RXERROR", "message": …}`` with 400/401/403,
and sometimes with 200. A 5xx is a :class:`~yourgpt_async.ServerError` whatever its body.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar

from ._endpoints import Endpoint, Family
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    FailureKind,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    UnexpectedResponseError,
)
from ._replies import ShapeError

__all__ = [
    "decode_reply",
    "encode_body",
    "loads",
    "oversized_reply",
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
    endpoint: Endpoint[T],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    family: Family = Family.PROJECT,
) -> T | APIError:
    """Turn one reply into the endpoint's result, or the error that says what went wrong.

    Never raises: whatever the service sent, the answer is a result or an
    :class:`~yourgpt_async.APIError` (returned, not raised) with its ``kind`` set.
    """
    try:
        payload = loads(body) if body else None
    except ValueError:
        payload = None
    if 200 <= status < 300 and type(payload) is dict and payload.get("type") == "RXSUCCESS":
        try:
            return endpoint.reply.decode(payload)
        except Exception as error:
            detail = str(error) if isinstance(error, ShapeError) else "its data cannot be decoded"
            return UnexpectedResponseError(
                f"a success reply whose data is not what {endpoint.name} returns: {detail}",
                status=status,
                endpoint=endpoint.name,
                excerpt=excerpt(body),
                request_id=headers.get("x-request-id"),
                kind=FailureKind.UNREADABLE,
            )
    return _failure(endpoint, status, headers, body, payload, family=family)


def oversized_reply(
    endpoint: Endpoint[Any],
    status: int,
    headers: Mapping[str, str],
    cap: int,
    family: Family = Family.PROJECT,
) -> APIError:
    """The error for a reply whose body was over ``cap`` bytes and was not read.

    A 5xx is a :class:`~yourgpt_async.ServerError` and a 429 a
    :class:`~yourgpt_async.RateLimitError`, as with any body; otherwise a
    :class:`~yourgpt_async.ResponseTooLargeError` (kind ``TOO_LARGE``), with the status:
    a 2xx may carry the result of a write, which the retry policy turns into doubt.
    """
    text = f"the reply is larger than max_response_bytes={cap}; it was not read"
    name, request_id = endpoint.name, headers.get("x-request-id")
    if status == 429 or status >= 500:
        error_class = RateLimitError if status == 429 else ServerError
        return error_class(
            text,
            status=status,
            endpoint=name,
            request_id=request_id,
            retry_after=retry_after(headers),
            kind=status_kind(status),
            hint=_hint(status, None, endpoint, family),
        )
    return ResponseTooLargeError(text, status=status, endpoint=name, request_id=request_id)


# What the service's RXERROR texts mean, by their text: the class a caller would catch and
# what to do. Matched case-insensitively, ignoring a final full stop. The class applies to an
# RXERROR at HTTP 200, whose status says nothing; otherwise the status decides the class and the
# text only the advice.
_KNOWN_TEXTS: Final[dict[str, tuple[type[APIError], str]]] = {
    "invalid or revoked api token": (
        AuthenticationError,
        "the organisation token (YOURGPT_API_TOKEN) is mistyped or was revoked: make a new one "
        "in Settings > API Tokens",
    ),
    "invalid or expired api token": (
        AuthenticationError,
        "the organisation token (YOURGPT_API_TOKEN) has expired (or is mistyped): make a new one "
        "in Settings > API Tokens, with a longer expiry if need be",
    ),
    "api token is inactive. token creator is no longer a member of the organization": (
        AuthenticationError,
        "the member who made this token has left the organisation, so it no longer works: an "
        "owner must make a new one in Settings > API Tokens",
    ),
    "you do not have permission to perform this action": (
        PermissionDeniedError,
        "the token's role, permissions or project scope do not allow this{permission}: an "
        "owner can give the token that permission, or the project, in Settings > API Tokens; "
        "or use a token that has them",
    ),
    "you have already reached the limit": (
        QuotaExceededError,
        "the plan's limit for this is reached; retrying will not help: upgrade the plan or "
        "remove something to make room",
    ),
    "not found": (NotFoundError, "no such item in this project: check the id"),
    "invalid params": (BadRequestError, "check the arguments named above"),
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

_TOO_LARGE_REQUEST: Final = (
    "the request is larger than the service accepts: send a shorter message (or less text or "
    "data in one call)"
)

# What to do about an error status, when the text is not one of the known ones, by the family
# of the credential: a project's key or an organisation's token.
_STATUS_HINTS: Final[dict[Family, dict[int, str]]] = {
    Family.PROJECT: {
        401: "check the API key (YOURGPT_API_KEY): it is missing, mistyped or revoked",
        403: "the key has no access to that widget or session: check the key and widget_uid",
        404: "check base_url: it should end in /chatbot/v1",
        413: _TOO_LARGE_REQUEST,
        429: "the service is rate limiting this key: send more slowly (see RateLimit) or later",
    },
    Family.PLATFORM: {
        401: "check the organisation token (YOURGPT_API_TOKEN): it is missing, mistyped, "
        "revoked or expired",
        403: "the token has no access to that project, or lacks the permission this needs",
        404: "check base_url: it should end in /chatbot/v1",
        413: _TOO_LARGE_REQUEST,
        429: "the service is rate limiting this token: send more slowly (see RateLimit) or later",
    },
}


def known_text(message: str) -> tuple[type[APIError], str] | None:
    """The class and advice for an RXERROR text the service is known to send, if it is one."""
    return _KNOWN_TEXTS.get(message.strip().rstrip(".").lower())


def _hint(
    status: int, known: tuple[type[APIError], str] | None, endpoint: Endpoint[Any], family: Family
) -> str:
    if known is not None:
        needs = endpoint.permission
        if needs == "Owner":
            needs = " (only an owner's token may do this)"
        elif needs:
            needs = f" (it needs {needs})"
        return known[1].format(permission=needs or "")
    if status in endpoint.hints:
        return endpoint.hints[status]
    if status >= 500:
        return "the service failed; try again later"
    return _STATUS_HINTS[family].get(status, "")


def _failure(
    endpoint: Endpoint[Any],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    payload: Any,
    *,
    family: Family,
) -> APIError:
    name = endpoint.name
    is_envelope = isinstance(payload, dict) and payload.get("type") in ("RXERROR", "RXSUCCESS")
    if not is_envelope:
        return _unexpected(endpoint, status, headers, body, payload, family=family)
    request_id = headers.get("x-request-id")
    message = payload.get("message")
    text = message if isinstance(message, str) and message else None
    known = known_text(text) if text is not None else None
    if 200 <= status < 300 or (known is not None and known[0] is QuotaExceededError):
        # At 2xx the status says nothing; a spent quota is refused whatever its status says
        # (a 429 carrying it must not be waited out and retried).
        return (known[0] if known is not None else BadRequestError)(
            text or "the service refused the request (RXERROR) without saying why",
            status=status,
            endpoint=name,
            body=payload,
            request_id=request_id,
            kind=FailureKind.REJECTED,
            hint=_hint(status, known, endpoint, family),
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
        hint=_hint(status, known, endpoint, family),
    )


def _unexpected(
    endpoint: Endpoint[Any],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    payload: Any,
    *,
    family: Family,
) -> APIError:
    """An error for a reply that is not the API's envelope at all."""
    name = endpoint.name
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
    # A 5xx is the service failing whatever it sent with it (a gateway's HTML page, nothing).
    error_class = ServerError if status >= 500 else UnexpectedResponseError
    return error_class(
        f"{what} (content-type {headers.get('Content-Type', 'unknown')})",
        status=status,
        endpoint=name,
        excerpt=excerpt(body),
        request_id=request_id,
        retry_after=wait,
        kind=FailureKind.UNREADABLE if 200 <= status < 300 else status_kind(status),
        hint=_hint(status, None, endpoint, family) if status >= 400 else "",
    )

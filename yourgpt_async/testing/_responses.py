"""How the emulator's replies look on the wire: the RXSUCCESS/RXERROR envelope, and the canned
replies of the faults that answer without processing a request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web

from ._faults import Fault, FaultKind

__all__ = [
    "after_processing",
    "error",
    "fault_response",
    "json_response",
    "status_response",
    "success",
    "throttled",
    "truncate",
]

_NOT_JSON_TEXT = "The service is temporarily unable to handle this request. Please try again."


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def json_response(
    status: int, payload: object, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Answer ``payload`` as JSON, non-ASCII text as is."""
    # json.dumps writes Python ints exactly, so a 17-digit session_uid stays a bare JSON number.
    text = json.dumps(payload, ensure_ascii=False)
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def success(message: str, data: object, *, total: int | None = None) -> web.Response:
    """Answer HTTP 200 with an RXSUCCESS envelope (``total`` before ``data`` for a page)."""
    payload: dict[str, object] = {"type": "RXSUCCESS", "message": message}
    if total is not None:
        payload["total"] = total
    payload["data"] = data
    return json_response(200, payload)


def error(
    status: int,
    message: str,
    *,
    errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Answer ``status`` with an RXERROR envelope, with per-field ``errors`` if any."""
    payload: dict[str, object] = {"type": "RXERROR", "message": message}
    if errors:
        payload["errors"] = dict(errors)
    return json_response(status, payload, headers)


def throttled(headers: Mapping[str, str], *, html: bool = False) -> web.Response:
    """Answer 429: the API's RXERROR envelope, or a gateway's bare HTML page."""
    if html:
        page = "<html><body><h1>429 Too Many Requests</h1></body></html>"
        return web.Response(status=429, text=page, content_type="text/html", headers=headers)
    return error(429, "Too many requests", headers=headers)


def fault_response(fault: Fault) -> web.Response | None:  # noqa: PLR0911 - one answer per kind
    """Answer a request with a fault that does not process it; ``None`` means drop."""
    status = fault.http_status
    kind = fault.kind
    if kind is FaultKind.STATUS:
        return status_response(fault)
    if kind is FaultKind.HTML:
        page = f"<html><body><h1>{status} {_phrase(status)}</h1></body></html>"
        return web.Response(status=status, text=page, content_type="text/html")
    if kind is FaultKind.EMPTY:
        return web.Response(status=status, body=b"", content_type="application/json")
    if kind is FaultKind.NOT_JSON:
        return web.Response(status=status, text=_NOT_JSON_TEXT, content_type="text/plain")
    if kind is FaultKind.WRONG_SHAPE:
        return json_response(200, [1, 2])
    if kind is FaultKind.RXERROR:
        return error(200, fault.message or "Something went wrong")
    return None  # DROP_BEFORE


def truncate(response: web.Response) -> web.Response:
    """The ``TRUNCATED`` fault: HTTP 200 with the first half of ``response``'s JSON text."""
    text = response.text or ""
    return web.Response(status=200, text=text[: len(text) // 2], content_type="application/json")


def after_processing(fault: Fault, response: web.Response) -> web.Response | None:
    """What a fault that processes the request answers instead of ``response``; ``None`` drops."""
    if fault.kind is FaultKind.DROP_AFTER:
        return None
    if fault.kind is FaultKind.STATUS_AFTER:
        return status_response(fault)
    if fault.kind is FaultKind.TRUNCATED:
        return truncate(response)
    return response


def status_response(fault: Fault) -> web.Response:
    """The answer of a ``STATUS`` or ``STATUS_AFTER`` fault: its status with an RXERROR body."""
    status = fault.http_status
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return error(status, fault.message or _phrase(status), headers=headers)

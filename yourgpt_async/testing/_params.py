"""Reading a request as the service would: its body (JSON or form-encoded), its parameters with
the service's own error messages, and a page of a list. Shared by every endpoint's handler."""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Protocol, TypeVar

from aiohttp import web

from ._responses import error

__all__ = [
    "MAX_LIMIT",
    "InvalidParams",
    "Params",
    "RequestError",
    "as_text",
    "by_id",
    "choice",
    "day",
    "filters",
    "integer",
    "invalid",
    "json_field",
    "matches",
    "order",
    "page_of",
    "paging",
    "parse_body",
    "record_id",
    "required",
    "required_id",
    "text",
]

MAX_LIMIT = 100
_ORDERS = ("ASC", "DESC")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Params = Mapping[str, object]


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


IdentifiedT = TypeVar("IdentifiedT", bound=_Identified)


class RequestError(Exception):
    """Ends a request with an RXERROR reply; raised by validation and lookups."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def response(self) -> web.Response:
        errors = None if self.field is None else {self.field: self.message}
        return error(self.status, self.message, errors=errors)


class InvalidParams(RequestError):
    """The service's "Invalid params", with its per-field ``errors``."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(400, "Invalid params")
        self.errors = dict(errors)

    def response(self) -> web.Response:
        return error(400, self.message, errors=self.errors)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # JSON's only way to a surrogate


def _is_unicode(value: object) -> bool:
    """Whether ``value``'s text can be encoded (no lone surrogate: a pair decodes as one)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_body(content_type: str, body: bytes) -> Params:
    """Decode a JSON or form-encoded body, whichever it is; the content type breaks ties."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "The request body is not UTF-8") from None
    if not text.strip():
        return {}
    is_form = content_type == "application/x-www-form-urlencoded"
    if content_type == "application/json" or (not is_form and text.lstrip()[:1] in "{["):
        try:
            value = json.loads(text)
        except ValueError:
            raise RequestError(400, "The request body is not valid JSON") from None
        except RecursionError:
            raise RequestError(400, "The request body is nested too deeply") from None
        if not isinstance(value, dict):
            raise RequestError(400, "The request body must be a JSON object")
        if _SURROGATE_ESCAPE.search(text) and not _is_unicode(value):
            # Stored, a lone surrogate would break every later reply that shows it.
            raise RequestError(400, "The request body has text that is not valid Unicode")
        return value
    try:
        return dict(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise RequestError(400, "The request body is neither JSON nor form-encoded") from None


def invalid(field: str, message: str) -> RequestError:
    return RequestError(400, message, field=field)


def text(params: Params, field: str) -> str | None:
    value = params.get(field)
    if value is None:
        return None
    if isinstance(value, (bool, float, list, dict)):
        raise invalid(field, f"{field} must be a string")
    return str(value)


def required(params: Params, field: str) -> str:
    value = text(params, field)
    if value is None or not value.strip():
        raise invalid(field, f"{field} is required")
    return value


def record_id(params: Params, field: str) -> int | None:
    """An id parameter; ``None`` when absent, null or empty."""
    if params.get(field) in (None, ""):
        return None
    return integer(params, field, default=0, minimum=1, maximum=None)


def required_id(params: Params, field: str) -> int:
    """An id parameter that must be given."""
    number = record_id(params, field)
    if number is None:
        raise invalid(field, f"{field} is required")
    return number


def choice(params: Params, field: str, allowed: Sequence[str]) -> str | None:
    value = text(params, field)
    if value is not None and value not in allowed:
        raise invalid(field, f"{field} must be one of {', '.join(allowed)}")
    return value


def integer(params: Params, field: str, *, default: int, minimum: int, maximum: int | None) -> int:
    value = params.get(field)
    if value is None or value == "":
        return default
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, f"{field} must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise invalid(field, f"{field} must be {bounds}")
    return value


def order(params: Params, *fields: str, default: str = "ASC") -> str:
    for field in fields:
        value = text(params, field)
        if value is not None:
            if value.upper() not in _ORDERS:
                raise invalid(field, f"{field} must be ASC or DESC")
            return value.upper()
    return default


def day(params: Params, field: str) -> date | None:
    value = text(params, field)
    if not value:
        return None
    if DATE.fullmatch(value):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value)
    raise invalid(field, f"{field} must be a date YYYY-MM-DD")


def json_field(params: Params, field: str, bad: RequestError) -> object:
    """A field holding JSON, sent as itself or (a form body can only carry it so) as JSON text;
    ``None`` when absent, null or empty. Raises ``bad`` when the text is not JSON."""
    value = params.get(field)
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except ValueError:
            raise bad from None
    return None if value is None or value == "" else value


def filters(params: Params) -> list[Mapping[str, object]]:
    bad = invalid("filter", "filter must be a list of conditions")
    raw = json_field(params, "filter", bad)
    if raw is None:
        return []
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise bad
    return [condition for condition in raw if isinstance(condition, dict)]


def as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(item: Mapping[str, object], condition: Mapping[str, object]) -> bool:
    """Apply one getSessions filter condition; conditions it cannot apply match everything."""
    key = condition.get("key")
    model = str(condition.get("model", "SESSION")).upper()
    if model != "SESSION" or not isinstance(key, str) or key not in item:
        return True
    operator = str(condition.get("operator", "=")).lower()
    actual, expected = as_text(item[key]), condition.get("value")
    if operator in ("=", "==", "eq"):
        return actual == as_text(expected)
    if operator in ("!=", "<>", "ne", "neq"):
        return actual != as_text(expected)
    if operator == "in" and isinstance(expected, list):
        return actual in {as_text(value) for value in expected}
    return True


def page_of(items: Sequence[object], page: int, limit: int) -> list[object]:
    return list(items[(page - 1) * limit : page * limit])


def paging(params: Params, *, default: int = 10, maximum: int = MAX_LIMIT) -> tuple[int, int]:
    """A list's ``page`` and ``limit`` (``default`` items, at most ``maximum``); the limit is
    read first, so a reply names a bad limit before a bad page."""
    limit = integer(params, "limit", default=default, minimum=1, maximum=maximum)
    page = integer(params, "page", default=1, minimum=1, maximum=None)
    return page, limit


def by_id(records: Iterable[IdentifiedT], order: str) -> list[IdentifiedT]:
    """``records`` by id, in ``order`` (``"ASC"`` or ``"DESC"``)."""
    return sorted(records, key=lambda record: record.id, reverse=order == "DESC")

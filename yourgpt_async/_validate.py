"""Every argument check, in one place, run before any I/O.

The client, bulk, the command line, the configuration classes and the Redis limiter all call
these, so one value is judged the same way wherever it comes in. Each check raises
:class:`~yourgpt_async.ConfigurationError` naming the argument, the bad value and what is
expected, or returns the value normalised.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import math
import os
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final, TypeVar

from yarl import URL

from ._config import Timeouts
from ._exceptions import ConfigurationError

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_PAGE_SIZE",
    "MAX_SEGMENT",
    "api_key",
    "base_url",
    "choice",
    "credential",
    "dates",
    "day",
    "e164",
    "filters",
    "from_env",
    "good_key",
    "headers",
    "hook",
    "instance",
    "is_loopback",
    "json_object",
    "log_query",
    "message_text",
    "order",
    "page_args",
    "positive_int",
    "positive_number",
    "search_query",
    "segment",
    "sessions_query",
    "short",
    "text",
    "timeout",
    "token",
    "uid",
    "user_agent_suffix",
    "view_id",
]

E = TypeVar("E")

MAX_PAGE_SIZE: Final = 100
MAX_SEGMENT: Final = 255
MAX_KEY_LENGTH: Final = 256
MAX_QUERY: Final = 5000
_E164: Final = re.compile(r"\+[1-9][0-9]{7,14}")
_ORDERS: Final = ("ASC", "DESC")
# Headers the client sets itself, and why a caller may not: the credential travels only in
# its own header; the body is always JSON, framed by the client (a length beside chunked
# framing, or an encoding the body does not have, can be read one way by a proxy and another
# by the service); the host is the base URL's.
_CREDENTIAL: Final = (
    "it carries the credential, which the client sets from api_key= (AsyncClient) or token= "
    "(AsyncPlatformClient)"
)
_FRAMING: Final = (
    "it frames the request body, which the client does itself (a caller's value could "
    "contradict it, and a proxy and the service read such a request differently)"
)
_RESERVED_HEADERS: Final = {
    "api-key": _CREDENTIAL,
    "authorization": _CREDENTIAL,
    "content-type": "the body is always JSON, and the client says so",
    "content-length": _FRAMING,
    "transfer-encoding": _FRAMING,
    "content-encoding": _FRAMING,
    "host": "the host is the base URL's (set base_url= to send elsewhere)",
}
_TOKEN: Final = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


def short(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def from_env(value: str | None, variable: str) -> str | None:
    """``value``, else the environment variable ``variable`` when it is set and not empty."""
    if value is not None:
        return value
    return os.environ.get(variable) or None


def instance(name: str, value: object, types: type | tuple[type, ...], expected: str) -> None:
    """``None`` or an instance of ``types`` (``expected`` says which, for the message)."""
    if value is not None and not isinstance(value, types):
        raise ConfigurationError(f"{name} must be {expected}, got {short(value)}")


def positive_int(name: str, value: object) -> int:
    """An ``int`` of at least 1 (not a ``bool``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int of at least 1, got {short(value)}")
    return value


def positive_number(name: str, value: object, *, allow_none: bool = False) -> None:
    """A finite or infinite number above 0 (``None`` too with ``allow_none``)."""
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or not value > 0
    ):
        expected = "a positive number or None" if allow_none else "a positive number"
        raise ConfigurationError(f"{name} must be {expected}, got {short(value)}")


def api_key(key: object) -> str:
    """A project's API key that can travel in an HTTP header (see :func:`credential`)."""
    return credential(
        "api_key", key, "no API key: pass api_key= or set the YOURGPT_API_KEY environment variable"
    )


def token(value: object) -> str:
    """An organisation's API token that can travel in an HTTP header (see :func:`credential`)."""
    return credential(
        "token",
        value,
        "no API token: pass token= or set the YOURGPT_API_TOKEN environment variable (an "
        "organisation's token, made in Settings > API Tokens)",
    )


def credential(name: str, value: object, missing: str) -> str:
    """A credential that can travel in an HTTP header: non-empty, no white space at its ends,
    no control characters. The message never contains the credential itself.

    Args:
        name: The argument's name, for the message.
        value: The credential, or ``None`` when none was given.
        missing: The message when it is ``None``.
    """
    if value is None:
        raise ConfigurationError(missing)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty str, got {type(value).__name__}")
    if value != value.strip():
        raise ConfigurationError(f"{name} has white space at its start or end")
    bad = next((c for c in value if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F), None)
    if bad is not None:
        raise ConfigurationError(
            f"{name} contains the control character {hex(ord(bad))}, which cannot be sent in "
            "an HTTP header; copy it again from the dashboard"
        )
    return value


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine (``localhost`` or a loopback address)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_BASE_URL_EXAMPLE: Final = "such as https://api.yourgpt.ai/chatbot/v1"
_LONGEST_SCHEME: Final = 8  # a longer "scheme" is more likely something pasted in by mistake


def base_url(value: object) -> URL:
    """An absolute ``https://`` URL (``http://`` only to loopback) with no credentials.

    A URL may hold a secret (``https://user:secret@host``, ``?api_key=...``), so no message
    repeats it: each says which part is wrong, naming at most the scheme and the host.
    """
    if not isinstance(value, str) or not value:
        kind = "an empty str" if value == "" else f"a {type(value).__name__}"
        raise ConfigurationError(f"base_url must be a non-empty str, got {kind}")
    try:
        url = URL(value.rstrip("/"))
    except ValueError:
        url = URL()
    if url.scheme not in ("https", "http"):
        known = url.scheme.isalpha() and len(url.scheme) <= _LONGEST_SCHEME
        what = f"has the scheme {url.scheme!r}" if known else "does not start with https://"
        raise ConfigurationError(
            f"base_url must be an absolute https:// URL ({_BASE_URL_EXAMPLE}); the one given {what}"
        )
    if not url.host:
        raise ConfigurationError(
            f"base_url must be an absolute https:// URL ({_BASE_URL_EXAMPLE}); the one given "
            "has no host"
        )
    carried = [
        part
        for part, present in (
            ("a user name or password", url.user is not None or url.password is not None),
            ("a query", bool(url.query_string)),
            ("a fragment", bool(url.fragment)),
        )
        if present
    ]
    if carried:
        raise ConfigurationError(
            f"base_url must not carry {' or '.join(carried)} (not repeated here, in case it "
            "holds a secret); give the credential as its own argument, which is sent only in "
            "its header"
        )
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigurationError(
            f"base_url uses plain http:// to {url.host!r}, a host that is not loopback; the "
            "credential would cross the network unencrypted. Use https://"
        )
    return url


def uid(name: str, value: object) -> str:
    """A session or widget id: a non-blank ``str`` (an ``int`` is taken as its digits)."""
    if type(value) is str and value and not value.isspace():  # the usual case, at once
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigurationError(f"{name} must be a str, got {short(value)}")
    text = str(value)
    if not text.strip():
        raise ConfigurationError(f"{name} must be a non-empty str, got {value!r}")
    return text


def choice(name: str, value: object, enum_type: type[E]) -> E:
    """A member of ``enum_type``, given as the member or its value in any case."""
    if type(value) is enum_type:  # a member already (every value is lower case)
        return value
    try:
        return enum_type(value.lower() if isinstance(value, str) else value)  # type: ignore[call-arg]
    except ValueError:
        allowed = ", ".join(repr(str(m)) for m in enum_type)  # type: ignore[attr-defined]
        raise ConfigurationError(f"{name} must be one of {allowed}; got {short(value)}") from None


def message_text(message: object) -> str:
    """A message: a ``str`` that is not blank."""
    if not isinstance(message, str):
        raise ConfigurationError(
            f"message must be a str, got {type(message).__name__}: {short(message)}"
        )
    if not message.strip():
        raise ConfigurationError(f"message must not be empty or blank, got {message!r}")
    return message


def text(name: str, value: object, *, limit: int | None = None) -> str:
    """A ``str`` that is not blank (and at most ``limit`` characters)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-blank str, got {short(value)}")
    if limit is not None and len(value) > limit:
        raise ConfigurationError(f"{name} must be at most {limit:,} characters, got {len(value):,}")
    return value


def segment(value: object) -> str:
    """Segment tags: a ``str`` or a list of ``str`` (joined with commas), ≤ 255 characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        tags = list(value)
        if not all(isinstance(tag, str) for tag in tags):
            raise ConfigurationError(f"segment must be a str or a list of str, got {short(value)}")
        text = ",".join(tags)
    else:
        raise ConfigurationError(f"segment must be a str or a list of str, got {short(value)}")
    if len(text) > MAX_SEGMENT:
        raise ConfigurationError(
            f"segment must be at most {MAX_SEGMENT} characters, got {len(text)}: {text[:40]!r}..."
        )
    return text


def page_args(
    page: object, limit: object, *, limit_name: str = "limit", maximum: int = MAX_PAGE_SIZE
) -> tuple[int, int]:
    """A page number from 1 and a page size from 1 to ``maximum`` (100 by default)."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ConfigurationError(f"page must be an int of at least 1, got {short(page)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ConfigurationError(
            f"{limit_name} must be an int from 1 to {maximum}, got {short(limit)}"
        )
    return page, limit


def order(value: object) -> str | None:
    """``"ASC"`` or ``"DESC"`` in any case, or ``None``."""
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in _ORDERS:
        return value.upper()
    raise ConfigurationError(f"order must be 'ASC' or 'DESC', got {short(value)}")


def day(name: str, value: object) -> str | None:
    """A ``date`` or ``"YYYY-MM-DD"``, as ``"YYYY-MM-DD"``; or ``None``."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%Y-%m-%d")
        except ValueError:
            pass
    raise ConfigurationError(f"{name} must be a date or a 'YYYY-MM-DD' str, got {short(value)}")


def view_id(value: object) -> int | None:
    """A dashboard view id: an ``int``, or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"view_id must be an int, got {short(value)}")
    return value


def filters(value: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Session filter conditions, each with at least ``key`` and ``operator``; ``model``
    defaults to ``"SESSION"``."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ConfigurationError(
            f"filters must be a list of {{key, operator, value}} dicts, got {short(value)}"
        )
    conditions = []
    for condition in value:
        if not isinstance(condition, Mapping) or not {"key", "operator"} <= condition.keys():
            raise ConfigurationError(
                "each filter must be a dict with at least 'key' and 'operator' (and "
                f"'value'), got {short(condition)}"
            )
        conditions.append({"model": "SESSION", **condition})
    return conditions


def log_query(
    session: object, sort_order: object, date_from: object, date_to: object
) -> dict[str, Any]:
    """The checked body of an execution-log query, less the page."""
    payload = dates(date_from, date_to)
    if session is not None:
        payload["session_uid"] = uid("session_uid", session)
    sort = order(sort_order)
    if sort is not None:
        payload["orderBy"] = sort
    return payload


def dates(date_from: object, date_to: object) -> dict[str, Any]:
    """A ``from``/``to`` day range, each optional, in order."""
    payload: dict[str, Any] = {}
    start, end = day("date_from", date_from), day("date_to", date_to)
    if start is not None and end is not None and start > end:
        raise ConfigurationError(f"date_from {start} is after date_to {end}")
    if start is not None:
        payload["from"] = start
    if end is not None:
        payload["to"] = end
    return payload


def search_query(text: object, limit: object, offset: object, node: object) -> dict[str, Any]:
    """The checked body of a knowledge-base search."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError(f"query must be a non-blank str, got {short(text)}")
    if len(text) > MAX_QUERY:
        raise ConfigurationError(
            f"query must be at most {MAX_QUERY:,} characters, got {len(text):,}"
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ConfigurationError(
            f"limit must be an int from 1 to {MAX_PAGE_SIZE}, got {short(limit)}"
        )
    payload: dict[str, Any] = {"query": text, "limit": limit}
    if offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ConfigurationError(f"offset must be an int of at least 0, got {short(offset)}")
        payload["offset"] = offset
    if node is not None:
        payload["node_id"] = uid("node_id", node)
    return payload


def e164(name: str, value: object) -> str:
    """A phone number in E.164 form: ``+`` and 8 to 15 digits, the first not 0."""
    if not isinstance(value, str) or _E164.fullmatch(value) is None:
        raise ConfigurationError(
            f"{name} must be a phone number in E.164 form: '+', then 8 to 15 digits with the "
            f"country code first and no spaces (e.g. '+4915112345678'); got {short(value)}"
        )
    return value


def json_object(name: str, value: object) -> dict[str, Any]:
    """A mapping that encodes as a JSON object (str keys; values JSON can hold)."""
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ConfigurationError(f"{name} must be a mapping with str keys, got {short(value)}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ConfigurationError(f"{name} cannot be sent as JSON: {error}") from None
    except RecursionError:
        raise ConfigurationError(f"{name} is nested too deeply to send as JSON") from None
    return dict(value)


def good_key(key: object) -> bool:
    """Whether ``key`` may name a bulk item: a non-blank ``str`` of at most 256 characters
    not starting with ``#`` (which marks the keys bulk makes itself)."""
    return (
        isinstance(key, str)
        and 0 < len(key) <= MAX_KEY_LENGTH
        and not key.startswith("#")
        and bool(key.strip())
    )


def sessions_query(
    sort_order: object,
    date_from: object,
    date_to: object,
    view: object,
    conditions: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """The checked body of a getSessions query, less the page."""
    payload: dict[str, Any] = {}
    sort = order(sort_order)
    if sort is not None:
        payload["orderBy"] = sort
    payload.update(dates(date_from, date_to))
    checked_view = view_id(view)
    if checked_view is not None:
        payload["view_id"] = checked_view
    checked = filters(conditions)
    if checked is not None:
        payload["filter"] = checked
    return payload


def _header_text(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a str, got {short(value)}")
    bad = next((c for c in value if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F), None)
    if bad is not None:
        raise ConfigurationError(
            f"{what} contains the control character {hex(ord(bad))}, which cannot be sent in "
            "an HTTP header"
        )
    return value


def headers(name: str, value: object) -> dict[str, str]:
    """Extra request headers: a mapping of header names (HTTP tokens) to ``str`` values, none
    of the headers the client sets itself (the credential's, ``Content-Type``, ``Host``, and
    those that frame the body: ``Content-Length``, ``Transfer-Encoding``,
    ``Content-Encoding``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a mapping of str to str, got {short(value)}")
    checked: dict[str, str] = {}
    for header, text in value.items():
        if not isinstance(header, str) or not header or not set(header) <= _TOKEN:
            raise ConfigurationError(f"{name}: {short(header)} is not a valid header name")
        why = _RESERVED_HEADERS.get(header.lower())
        if why is not None:
            raise ConfigurationError(f"{name} cannot set the header {header!r}: {why}")
        checked[header] = _header_text(f"{name}[{header!r}]", text)
    return checked


def user_agent_suffix(value: object) -> str | None:
    """Text appended to the ``User-Agent`` header (``"my-app/1.2"``), or ``None``."""
    if value is None:
        return None
    text = _header_text("user_agent_suffix", value).strip()
    if not text:
        raise ConfigurationError(f"user_agent_suffix must not be blank, got {value!r}")
    return text


def timeout(value: object) -> Timeouts:
    """A :class:`Timeouts`, or a number of seconds for the whole attempt: the default timeouts
    with ``total`` and ``read`` set to it and ``connect`` capped at it."""
    if isinstance(value, Timeouts):
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(
            f"timeout must be a positive number of seconds or a Timeouts, got {short(value)}"
        )
    seconds = float(value)
    connect = Timeouts().connect
    return Timeouts(
        total=seconds, connect=seconds if connect is None else min(connect, seconds), read=seconds
    )


def hook(name: str, value: object) -> None:
    """A plain (not ``async``) callable, or ``None``.

    Hooks run inline, on the request path, and what they return is not awaited: an
    ``async def`` hook would make a coroutine that never runs, so it is refused here rather
    than dropped in silence.
    """
    if value is None:
        return
    if not callable(value):
        raise ConfigurationError(f"{name} must be a callable or None, got {short(value)}")
    # A function, a method or partial of one, or an object whose own __call__ is async.
    if any(
        inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
        for f in (value, value.__call__)
    ):
        raise ConfigurationError(
            f"{name} must be a plain function, not an async one: hooks run inline on each "
            "request and what they return is not awaited, so an async hook would never run. "
            "To do async work, have a plain hook hand the event on, e.g. to an asyncio.Queue "
            "(queue.put_nowait(event)) that a task of yours reads"
        )

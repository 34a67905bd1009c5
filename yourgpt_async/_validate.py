"""Every check of a call's arguments, in one place, run before any I/O.

The clients, their resources, bulk, the command line and the Redis limiter all call these, so
one value is judged the same way wherever it comes in (a client's own settings are checked in
``_settings``). Each check raises
:class:`~yourgpt_async.ConfigurationError` naming the argument, the bad value and what is
expected, or returns the value normalised.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final, TypeVar

from ._exceptions import ConfigurationError
from .types._conversations import ChatMode, SessionState

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_PAGE_SIZE",
    "MAX_SEGMENT",
    "choice",
    "dates",
    "day",
    "e164",
    "email",
    "filters",
    "flag",
    "from_env",
    "good_key",
    "instance",
    "json_object",
    "literal",
    "log_query",
    "message_text",
    "order",
    "ordered",
    "page_args",
    "page_size",
    "positive_int",
    "search_query",
    "segment",
    "session_changes",
    "sessions_query",
    "short",
    "text",
    "uid",
    "view_id",
]

E = TypeVar("E")

MAX_PAGE_SIZE: Final = 100
MAX_SEGMENT: Final = 255
MAX_KEY_LENGTH: Final = 256
MAX_QUERY: Final = 5000
_E164: Final = re.compile(r"\+[1-9][0-9]{7,14}")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_ORDERS: Final = ("ASC", "DESC")


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


def flag(name: str, value: object) -> bool | None:
    """``True`` or ``False``, or ``None``."""
    if value is None or isinstance(value, bool):
        return value
    raise ConfigurationError(f"{name} must be True or False, got {short(value)}")


def uid(name: str, value: object) -> str:
    """An id the service gives as text (a session's, a widget's, a project's, an agent's, a
    node's): a non-blank ``str`` (an ``int`` is taken as its digits)."""
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


def literal(name: str, value: object, allowed: Sequence[str]) -> str:
    """One of the ``allowed`` strings, given exactly or in another case."""
    if isinstance(value, str):
        found = next((option for option in allowed if option.lower() == value.lower()), None)
        if found is not None:
            return found
    options = ", ".join(repr(option) for option in allowed)
    raise ConfigurationError(f"{name} must be one of {options}; got {short(value)}")


def email(name: str, value: object) -> str:
    """An email address: one ``@`` with text before it and a dotted domain after, no spaces."""
    if not isinstance(value, str) or _EMAIL.fullmatch(value.strip()) is None:
        raise ConfigurationError(
            f"{name} must be an email address such as 'ops@example.com', got {short(value)}"
        )
    return value.strip()


def message_text(message: object) -> str:
    """A message: a ``str`` that is not blank."""
    if not isinstance(message, str):
        raise ConfigurationError(
            f"message must be a str, got {type(message).__name__}: {short(message)}"
        )
    if not message.strip():
        raise ConfigurationError(f"message must not be empty or blank, got {message!r}")
    if not message.isascii():
        try:
            message.encode("utf-8")
        except UnicodeEncodeError as error:  # a lone surrogate: not text, cannot be sent
            raise ConfigurationError(
                f"message has a lone surrogate (U+{ord(message[error.start]):04X}) at position "
                f"{error.start}, which is not a character and cannot be sent as UTF-8; it "
                "usually comes from text cut in the middle of an emoji or decoded with the "
                "wrong codec"
            ) from None
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


def session_changes(state: object, chat_mode: object, segment_tags: object) -> dict[str, Any]:
    """The checked changes of an updateSession: at least one of a state, a chat mode and
    segment tags, and never ``resolved`` with a chat mode (resolving hands the session back to
    the bot by itself, and the service refuses both at once)."""
    changes: dict[str, Any] = {}
    if state is not None:
        changes["state"] = choice("state", state, SessionState).value
    if chat_mode is not None:
        changes["chat_mode"] = choice("chat_mode", chat_mode, ChatMode).value
    if changes.get("state") == SessionState.RESOLVED.value and "chat_mode" in changes:
        raise ConfigurationError(
            "state='resolved' cannot be combined with chat_mode: resolving hands the "
            "session back to the bot by itself; send chat_mode in a separate call"
        )
    if segment_tags is not None:
        changes["segment"] = segment(segment_tags)
    if not changes:
        raise ConfigurationError(
            "nothing to update: pass at least one of state, chat_mode or segment"
        )
    return changes


def page_args(
    page: object, limit: object, *, limit_name: str = "limit", maximum: int = MAX_PAGE_SIZE
) -> tuple[int, int]:
    """A page number from 1 and a page size from 1 to ``maximum`` (100 by default)."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ConfigurationError(f"page must be an int of at least 1, got {short(page)}")
    return page, page_size(limit, name=limit_name, maximum=maximum)


def page_size(limit: object, *, name: str = "limit", maximum: int = MAX_PAGE_SIZE) -> int:
    """A page size (or a count of results) from 1 to ``maximum`` (100 by default)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ConfigurationError(f"{name} must be an int from 1 to {maximum}, got {short(limit)}")
    return limit


def order(value: object) -> str | None:
    """``"ASC"`` or ``"DESC"`` in any case, or ``None``."""
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in _ORDERS:
        return value.upper()
    raise ConfigurationError(f"order must be 'ASC' or 'DESC', got {short(value)}")


def ordered(payload: dict[str, Any], value: object) -> dict[str, Any]:
    """``payload``, with ``orderBy`` set to :func:`order` of ``value`` when one is given."""
    sort = order(value)
    if sort is not None:
        payload["orderBy"] = sort
    return payload


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
    return ordered(payload, sort_order)


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


def search_query(query: object, limit: object, offset: object, node: object) -> dict[str, Any]:
    """The checked body of a knowledge-base search."""
    payload: dict[str, Any] = {
        "query": text("query", query, limit=MAX_QUERY),
        "limit": page_size(limit),
    }
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
    payload = ordered({}, sort_order)
    payload.update(dates(date_from, date_to))
    checked_view = view_id(view)
    if checked_view is not None:
        payload["view_id"] = checked_view
    checked = filters(conditions)
    if checked is not None:
        payload["filter"] = checked
    return payload

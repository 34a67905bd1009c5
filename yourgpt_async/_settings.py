"""Checks of what a client is made with, run before any I/O: its credential (a project's key
or an organisation's token), base URL, extra headers and user agent, timeouts and hooks.

Each raises :class:`~yourgpt_async.ConfigurationError` naming the setting, the bad value (never
a credential, nor a URL's secret parts) and what is expected, or returns the value normalised.
The checks of a call's own arguments are in ``_validate``.
"""

from __future__ import annotations

import inspect
import ipaddress
import math
import string
from collections.abc import Mapping
from typing import Final

from yarl import URL

from ._config import Timeouts
from ._exceptions import ConfigurationError
from ._validate import short

__all__ = [
    "api_key",
    "base_url",
    "credential",
    "headers",
    "hook",
    "is_loopback",
    "timeout",
    "token",
    "user_agent_suffix",
]


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


def api_key(key: object) -> str:
    """A project's API key that can travel in an HTTP header (see :func:`credential`)."""
    return credential(
        "api_key",
        key,
        "no API key: pass api_key= to AsyncClient, or set the YOURGPT_API_KEY environment variable",
    )


def token(value: object) -> str:
    """An organisation's API token that can travel in an HTTP header (see :func:`credential`)."""
    return credential(
        "token",
        value,
        "no API token: pass token= to AsyncPlatformClient, or set the YOURGPT_API_TOKEN "
        "environment variable (an organisation's token, made in Settings > API Tokens)",
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

"""The exceptions raised by yourgpt-async, all below one root.

Catch :class:`YourGPTError` for everything, or a branch for one kind of failure::

    YourGPTError
    ├── ConfigurationError          bad arguments, missing key; raised before any I/O
    ├── NotSentError                given up before a byte was sent (deadline, pause, gate, closed)
    ├── RateLimiterUnavailableError the shared limiter (Redis) is unreachable; nothing was sent
    ├── TransportError
    │   ├── ConnectError            never reached the service: safe to retry
    │   └── DeliveryUnknownError    sent, no answer: the message may have been delivered
    └── APIError(status, message, body, request_id)
        ├── BadRequestError         400, or another RXERROR at 200
        ├── AuthenticationError     401
        ├── PermissionDeniedError   403
        ├── NotFoundError           404, or RXERROR "Session not found"
        ├── QuotaExceededError      the plan's limit is reached; never retried
        ├── RateLimitError          429 (retry_after)
        ├── ServerError             5xx, whatever the body
        │   └── ServerErrorInDoubt  a 5xx to a create that had left (also DeliveryUnknownError)
        └── UnexpectedResponseError HTML, empty, truncated, not JSON, wrong shape (non-5xx)
            └── ResponseTooLargeError  over max_response_bytes; not retried

Every exception carries a :class:`FailureKind` in ``kind``: what the failure means for the call,
decided once where the failure is seen (``_wire`` for replies, ``_transport`` for the network).
The retry policy, the rate limiter and bulk sending all read that one value.

No message or repr of these exceptions contains the credential (a project's API key or an
organisation's token), nor does anything reachable from them: the client never hands it to
them, and :func:`redact` removes it (and any password) from text a service or a library echoes
back, before the error is raised, in every encoding :func:`secret_forms` lists.
"""

from __future__ import annotations

import base64
import enum
import functools
import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import quote, quote_plus

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConnectError",
    "DeliveryUnknownError",
    "FailureKind",
    "NotFoundError",
    "NotSentError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RateLimiterUnavailableError",
    "ResponseTooLargeError",
    "ServerError",
    "ServerErrorInDoubt",
    "TransportError",
    "UnexpectedResponseError",
    "YourGPTError",
    "holds_secret",
    "redact",
    "redact_error",
    "redact_headers",
    "secret_forms",
]

E = TypeVar("E", bound="YourGPTError")

REDACTED: Final = "***"
"""What a secret is replaced with."""

_MIN_PARTIAL: Final = 4  # a cut-off text ending in this much of a secret's start loses it too
_MIN_FORM: Final = 8  # an encoded form shorter than this would match ordinary text: kept raw only
_HEX: Final = re.compile(r"%[0-9A-F]{2}")


def _base64_forms(secret: bytes) -> list[str]:
    """What base64 (standard and url-safe) makes of ``secret`` inside any longer text: for each
    of the three alignments, the characters that depend on the secret's bytes alone."""
    forms = []
    for offset, first in ((0, 0), (1, 2), (2, 3)):  # bytes before it; characters they touch
        end = ((offset + len(secret)) * 8) // 6  # the last characters also hold what follows
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.append(encode(bytes(offset) + secret).decode("ascii")[first:end])
    return forms


@functools.lru_cache(maxsize=64)
def secret_forms(secret: str) -> tuple[str, ...]:
    """Every way ``secret`` may show in what a service or a library sends back, longest first:
    as it is, JSON-escaped (``\\/``, ``\\uXXXX``), percent-encoded (``quote``, ``quote_plus``,
    either case of hex), HTML-escaped and base64-encoded (standard and url-safe, at any
    alignment). Computed once per secret."""
    escaped = [json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]]
    escaped += [text.replace("/", "\\/") for text in escaped]
    escaped += [
        "".join(f"\\u{ord(c):04x}" for c in secret),
        "".join(f"\\u{ord(c):04X}" for c in secret),
    ]
    quoted = [
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret, safe=""),
        quote_plus(secret),
    ]
    quoted += [_HEX.sub(lambda hexed: hexed.group().lower(), text) for text in quoted]
    marked = [html.escape(secret), html.escape(secret, quote=False)]
    encoded = _base64_forms(secret.encode("utf-8", "surrogatepass"))
    forms = {secret} | {f for f in (*escaped, *quoted, *marked, *encoded) if len(f) >= _MIN_FORM}
    return tuple(sorted(forms, key=len, reverse=True))


def _forms(secrets: Sequence[str]) -> list[str]:
    return [form for secret in secrets if secret for form in secret_forms(secret)]


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each secret replaced by ``***``, in every form :func:`secret_forms` lists."""
    for form in _forms(secrets):
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def holds_secret(text: str, secrets: Sequence[str]) -> bool:
    """Whether ``text`` holds one of the secrets, in any form :func:`secret_forms` lists."""
    return any(form in text for form in _forms(secrets))


def redact_headers(headers: Mapping[str, str], secrets: Sequence[str]) -> Mapping[str, str]:
    """``headers`` itself, or a case-insensitive copy with every secret redacted from the
    names and values (a service may echo the credential in ``x-request-id``, or anywhere)."""
    if not any(secrets):
        return headers
    items = list(headers.items())
    if not holds_secret("\n".join(f"{name}:{value}" for name, value in items), secrets):
        return headers
    return CIMultiDictProxy(
        CIMultiDict((redact(name, secrets), redact(value, secrets)) for name, value in items)
    )


def _redact_cut(text: str, secrets: Sequence[str]) -> str:
    """:func:`redact` for a text cut to a length, which may end with the start of a secret."""
    text = redact(text, secrets)
    for form in _forms(secrets):
        for size in range(min(len(form) - 1, len(text)), _MIN_PARTIAL - 1, -1):
            if text.endswith(form[:size]):
                return text[:-size] + REDACTED
    return text


def _redact_json(value: Any, secrets: Sequence[str]) -> Any:
    """A decoded JSON value with the secrets redacted from every string in it, keys included.

    Lists and dicts are changed in place, walked with a stack rather than recursion, so a body
    nested as deep as a parser allows is no problem.
    """
    if isinstance(value, str):
        return redact(value, secrets)
    stack, seen = [value], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, list):
            entries = list(enumerate(node))
        elif isinstance(node, dict):
            entries = list(node.items())
        else:
            continue
        for key, item in entries:
            if isinstance(item, str):
                node[key] = redact(item, secrets)
            elif isinstance(item, (list, dict)):
                stack.append(item)
            if isinstance(key, str) and isinstance(node, dict) and redact(key, secrets) != key:
                node[redact(key, secrets)] = node.pop(key)
    return value


def redact_error(error: E, secrets: Sequence[str]) -> E:
    """Remove the secrets from everything ``error`` holds; returns ``error`` itself.

    Called where an error is made from what a service sent back (an RXERROR message, a body, a
    header), so a service that echoes the API key never gets it into a message, a log line, a
    results file or a journal.
    """
    if any(secrets):
        error._redact(secrets)
    return error


class FailureKind(enum.Enum):
    """What a failure means for the call: whether it reached the service, and what came back.

    The retry table is written in these terms; see :class:`~yourgpt_async.RetryPolicy`.
    """

    INVALID = "invalid"
    """Refused before any request: a bad argument or setting."""
    NOT_SENT = "not_sent"
    """Given up before the request was sent: no free slot, turn or time was left for it."""
    CONNECT = "connect"
    """The service was never reached (DNS, refused, TLS): nothing was delivered."""
    THROTTLED = "throttled"
    """429 or 503: the service asked to slow down or come back later."""
    AMBIGUOUS = "ambiguous"
    """Sent, but no complete answer came back (a timeout or a dropped connection)."""
    SERVER = "server"
    """A 5xx other than 503: the service failed, perhaps after acting on the request."""
    UNREADABLE = "unreadable"
    """A 2xx reply that cannot be read (not JSON, not the envelope, the wrong shape)."""
    TOO_LARGE = "too_large"
    """A reply over ``max_response_bytes``; the same request would bring the same reply."""
    REJECTED = "rejected"
    """The service refused the request (400/401/403/404, another 4xx, ``RXERROR``)."""


class YourGPTError(Exception):
    """Base of every exception this package raises on purpose.

    Attributes:
        attempts: How many HTTP requests were made for the failed call (0 when the error was
            raised before any request, 1 when no retry happened).
        kind: What the failure means (see :class:`FailureKind`).
    """

    attempts: int = 0
    kind: FailureKind = FailureKind.REJECTED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (after {self.attempts} attempts)"
        return self.message

    def _redact(self, secrets: Sequence[str]) -> None:
        self.message = redact(self.message, secrets)
        self.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in self.args)


class ConfigurationError(YourGPTError, ValueError):
    """An argument or setting is invalid or missing; raised before any network I/O.

    It is also a :class:`ValueError`, so code that validates input generically catches it.
    """

    kind = FailureKind.INVALID


class NotSentError(YourGPTError):
    """Given up before a byte was sent (deadline, own pause, gate, closed): nothing reached the
    service, so trying again later is safe.

    Raised when the call's time ran out, or ``RetryPolicy.max_wait`` was reached, while it
    waited for a free slot of ``max_concurrency`` or a turn under the rate limit, while the
    service's pause (a 429's ``Retry-After``, a quota spent until its reset) held every call of
    the client, when what is left of the deadline is less than the request's full timeout, or
    when the client was closed while it waited. Never an HTTP status: the service said nothing.
    Not retried by the client.

    Attributes:
        endpoint: The API endpoint, e.g. ``"sendMessage"``, when known.
        retry_after: Seconds until the pause that stopped it ends, when a pause did; else
            ``None``.
    """

    kind = FailureKind.NOT_SENT

    def __init__(
        self, message: str, *, endpoint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.retry_after = retry_after

    def __str__(self) -> str:
        if self.attempts:  # earlier attempts were sent: say so, not "after N attempts"
            earlier = "attempt" if self.attempts == 1 else "attempts"
            return f"{self.message} (after {self.attempts} earlier {earlier})"
        return self.message


class RateLimiterUnavailableError(YourGPTError):
    """The shared rate limiter could not be reached, and it is configured to fail rather than guess.

    Raised by a client whose ``RedisRateLimit`` has ``on_redis_error="fail"`` when Redis does
    not answer (within its ``timeout``), before the request is sent: nothing was delivered, so
    retrying later is safe. It is not retried by the client, since it is about the limiter, not
    the service; with ``on_redis_error="local"`` (the default) the client keeps sending, paced
    on its own, instead.
    """


class TransportError(YourGPTError):
    """The request did not complete at the HTTP level.

    Attributes:
        endpoint: The API endpoint, e.g. ``"sendMessage"``.
    """

    kind = FailureKind.AMBIGUOUS

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class ConnectError(TransportError):
    """The service was never reached (DNS, refused, TLS before the request was sent).

    Nothing was delivered, so retrying is always safe.
    """

    kind = FailureKind.CONNECT


class DeliveryUnknownError(TransportError):
    """The request was sent but no usable answer came back: it may or may not have taken effect.

    Raised for an endpoint that creates or calls (``sendMessage``, ``createSession``,
    ``makeOutboundCall``, ...) after a timeout, a dropped connection, a 5xx or an unreadable
    success once the request had left, because resending could create a duplicate. The
    message says how to find out for that endpoint (for a message: look among the session's
    messages before sending it again), and which policy would act by itself:
    ``RetryPolicy(retry_unsafe=True)`` resends if a duplicate is acceptable.

    With ``RetryPolicy(reconcile=True)`` the client checks by itself where the endpoint can be
    read back, and raises this only when reading back could not tell (the message then says
    why).
    """


class APIError(YourGPTError):
    """The service answered with an error.

    Attributes:
        status: The HTTP status code (200 when the service sent ``RXERROR`` with a 200).
        message: The service's own message, or a description of what was wrong with the reply.
        body: The decoded error body when it was JSON, else ``None``.
        errors: Per-field messages when the service sent them (400s), else an empty dict.
        request_id: The service's request id header, when one was sent.
        endpoint: The API endpoint, e.g. ``"sendMessage"``.
        retry_after: Seconds the service asked to wait before retrying (``Retry-After``), or
            ``None`` when it did not say.
        hint: What to do about it, when that can be said (``"check session_uid: ..."``).
        excerpt: The first few hundred characters of a body that is not the API's JSON (an
            HTML error page, say), for diagnosis; empty otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        endpoint: str,
        body: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        kind: FailureKind | None = None,
        hint: str = "",
        excerpt: str = "",
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.hint = hint
        self.excerpt = excerpt
        self.status = status
        self.retry_after = retry_after
        self.endpoint = endpoint
        self.body = body
        self.request_id = request_id
        errors = body.get("errors") if isinstance(body, Mapping) else None
        self.errors: dict[str, Any] = dict(errors) if isinstance(errors, Mapping) else {}

    def __str__(self) -> str:
        # An RXERROR at HTTP 200 is an error the status says nothing about: leave it out.
        status = f"HTTP {self.status}: " if self.status != 200 else ""
        text = f"{self.endpoint}: {status}{self.message}"
        if self.errors:
            fields = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
            text = f"{text} ({fields})"
        if self.hint:
            text = f"{text.rstrip('.')}; {self.hint}"
        if self.excerpt:
            text = f"{text}; body starts: {self.excerpt!r}"
        if self.attempts > 1:
            text = f"{text} (after {self.attempts} attempts)"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, endpoint={self.endpoint!r}, "
            f"message={self.message!r})"
        )

    def _redact(self, secrets: Sequence[str]) -> None:
        super()._redact(secrets)
        if self.request_id is not None:
            self.request_id = redact(self.request_id, secrets)
        self.body = _redact_json(self.body, secrets)
        self.errors = _redact_json(self.errors, secrets)
        self.excerpt = _redact_cut(self.excerpt, secrets)


class BadRequestError(APIError):
    """HTTP 400, or an ``RXERROR`` at HTTP 200 that no other class fits: the service rejected
    the request's parameters."""


class AuthenticationError(APIError):
    """HTTP 401: the credential is missing, invalid, revoked, expired or inactive; the message
    says which. Check ``YOURGPT_API_KEY`` (a project's key) or ``YOURGPT_API_TOKEN`` (an
    organisation's token)."""


class PermissionDeniedError(APIError):
    """HTTP 403: the credential has no access to that widget, session or project, or lacks the
    permission the endpoint needs (the message names it), or the plan lacks the feature."""


class QuotaExceededError(APIError):
    """The plan's limit for this is reached ("You have already reached the limit."), whatever
    the HTTP status.

    Not retried, and not a rate limit: waiting does not help. Upgrade the plan, or remove
    something (a training text, a project) to make room.
    """


class NotFoundError(APIError):
    """The session, widget or endpoint does not exist.

    Raised for HTTP 404 (a wrong ``base_url``) and for the service's ``RXERROR`` "Session not
    found", which it sends with HTTP 200 (then ``status`` is 200).
    """


class RateLimitError(APIError):
    """HTTP 429: the service is rate limiting this key.

    The client retries these by itself, waiting ``retry_after`` seconds; you see one only when
    the retries or the deadline ran out.
    """

    kind = FailureKind.THROTTLED


class ServerError(APIError):
    """HTTP 5xx, whatever its body (the API's envelope, a gateway's HTML page, plain text or
    nothing): the service failed. A body that is not the envelope is kept in ``excerpt``."""

    kind = FailureKind.SERVER


class ServerErrorInDoubt(DeliveryUnknownError, ServerError):
    """A 5xx in answer to a create or a call that had left: in doubt, and a server error.

    ``except DeliveryUnknownError`` and ``except ServerError`` both catch it: it is the
    service's failure (``status``, ``body``, ``request_id`` as any :class:`ServerError`), and
    it may have taken effect before the service failed, so it was not resent.
    """

    kind = FailureKind.AMBIGUOUS

    def __init__(self, message: str, *, cause: ServerError) -> None:
        APIError.__init__(
            self,
            message,
            status=cause.status,
            endpoint=cause.endpoint,
            body=cause.body,
            request_id=cause.request_id,
            kind=FailureKind.AMBIGUOUS,
        )
        self.excerpt = cause.excerpt

    def __str__(self) -> str:
        return YourGPTError.__str__(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, endpoint={self.endpoint!r})"


class UnexpectedResponseError(APIError):
    """The reply was not the JSON envelope the API promises: HTML, empty, truncated or reshaped
    (a 5xx is a :class:`ServerError` whatever its body); ``excerpt`` holds the start of it."""


class ResponseTooLargeError(UnexpectedResponseError):
    """The reply was larger than ``max_response_bytes`` and was not read.

    Not retried: the same request would bring the same reply. A success status (2xx) over the
    cap for an endpoint that creates or calls may carry the result of what it did, so such a
    call raises :class:`DeliveryUnknownError` around this instead (settled by a read-back with
    ``RetryPolicy(reconcile=True)``).
    """

    kind = FailureKind.TOO_LARGE

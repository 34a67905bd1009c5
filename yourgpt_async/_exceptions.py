"""The exceptions raised by yourgpt-async, all below one root.

Catch :class:`YourGPTError` for everything, or a branch for one kind of failure::

    YourGPTError
    ├── ConfigurationError          bad arguments, missing key; raised before any I/O
    ├── NotSentError                given up before a byte was sent (the client was closed)
    ├── RateLimiterUnavailableError the shared limiter (Redis) is unreachable; nothing was sent
    ├── TransportError
    │   ├── ConnectError            never reached the service: safe to retry
    │   └── DeliveryUnknownError    sent, no answer: the message may have been delivered
    └── APIError(status, message, body, request_id)
        ├── BadRequestError         400, or another RXERROR at 200
        ├── AuthenticationError     401
        ├── PermissionDeniedError   403
        ├── NotFoundError           404, or RXERROR "Session not found"
        ├── RateLimitError          429 (retry_after)
        ├── ServerError             5xx
        └── UnexpectedResponseError HTML, empty, truncated, not JSON, wrong shape
            └── ResponseTooLargeError  over max_response_bytes; not retried

Every exception carries a :class:`FailureKind` in ``kind``: what the failure means for the call,
decided once where the failure is seen (``_wire`` for replies, ``_transport`` for the network).
The retry policy, the rate limiter and bulk sending all read that one value.

No message or repr of these exceptions contains the API key, nor does anything reachable from
them: the client never hands the key to them, and :func:`redact` removes it (and any password)
from text a service or a library echoes back, before the error is raised.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

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
    "RateLimitError",
    "RateLimiterUnavailableError",
    "ResponseTooLargeError",
    "ServerError",
    "TransportError",
    "UnexpectedResponseError",
    "YourGPTError",
    "redact",
    "redact_error",
]

E = TypeVar("E", bound="YourGPTError")

REDACTED: Final = "***"
"""What a secret is replaced with."""

_MIN_PARTIAL: Final = 4  # a cut-off text ending in this much of a secret's start loses it too


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_cut(text: str, secrets: Sequence[str]) -> str:
    """:func:`redact` for a text cut to a length, which may end with the start of a secret."""
    text = redact(text, secrets)
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), _MIN_PARTIAL - 1, -1):
            if text.endswith(secret[:size]):
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
    """The call was given up before a byte of its request was sent: nothing was delivered, so
    sending it again is safe.

    Raised for a call still waiting for its turn when the client is closed. It is not retried:
    the call itself is over.

    Attributes:
        retry_after: Seconds until a request could have gone, when known (the rest of a
            cool-down), else ``None``.
    """

    kind = FailureKind.INVALID

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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

    Raised for ``sendMessage`` and ``createSession`` after a timeout, a dropped connection or a
    500/502/504 once the request had left, because resending could create a duplicate. Check the
    session's messages (``get_session_messages``) before sending again, or opt in to resending
    with ``RetryPolicy(retry_unsafe=True)`` if a duplicate is acceptable.

    With ``RetryPolicy(reconcile=True)`` the client checks by itself, and raises this only when
    reading the session back could not tell (the message then says why).
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
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.hint = hint
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
            text = f"{text}; {self.hint}"
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


class BadRequestError(APIError):
    """HTTP 400, or an ``RXERROR`` at HTTP 200 that no other class fits: the service rejected
    the request's parameters."""


class AuthenticationError(APIError):
    """HTTP 401: the API key is missing or invalid. Check ``YOURGPT_API_KEY``."""


class PermissionDeniedError(APIError):
    """HTTP 403: the key has no access to that widget or session."""


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
    """HTTP 5xx: the service failed."""

    kind = FailureKind.SERVER


class UnexpectedResponseError(APIError):
    """The reply was not the JSON envelope the API promises: HTML, empty, truncated or reshaped.

    Attributes:
        excerpt: The first few hundred characters of the body, for diagnosis.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        endpoint: str,
        excerpt: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
        kind: FailureKind | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            endpoint=endpoint,
            request_id=request_id,
            retry_after=retry_after,
            kind=kind,
        )
        self.excerpt = excerpt

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}; body starts: {self.excerpt!r}" if self.excerpt else text

    def _redact(self, secrets: Sequence[str]) -> None:
        super()._redact(secrets)
        self.excerpt = _redact_cut(self.excerpt, secrets)


class ResponseTooLargeError(UnexpectedResponseError):
    """The reply was larger than ``max_response_bytes`` and was not read.

    Not retried: the same request would bring the same reply.
    """

    kind = FailureKind.TOO_LARGE

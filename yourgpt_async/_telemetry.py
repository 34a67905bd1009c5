"""Seeing what the client does: the ``YOURGPT_LOG`` switch, a log line per attempt, the hooks,
and OpenTelemetry spans and metrics when the application has set OpenTelemetry up.

A call is watched through a :class:`CallTrace` only when something looks: a hook, an
OpenTelemetry provider, the ``yourgpt_async`` logger at ``INFO`` or below, or a raw response.
Otherwise the client passes no trace and nothing here runs. OpenTelemetry is imported only when
the application has imported it already, so without it nothing is imported either.

Nothing here logs or hands on the API key, request bodies or message text: only endpoint names,
statuses, timings, attempt numbers, request ids and error classes.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import math
import os
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import attrs

from . import _settings as settings
from ._exceptions import APIError, ConfigurationError, FailureKind, YourGPTError

if TYPE_CHECKING:
    from .pacing._limiter import Limiter

__all__ = [
    "CallTrace",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "Telemetry",
    "ThrottleEvent",
    "logger",
    "setup_logging",
]

logger = logging.getLogger("yourgpt_async")

_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_chosen = False  # a level given by the program (the CLI's -v) wins over YOURGPT_LOG


def setup_logging(level: str | None = None) -> None:
    """Switch the ``yourgpt_async`` logger on from ``YOURGPT_LOG`` (or ``level``, for the CLI).

    ``debug`` logs a line per HTTP attempt; ``info`` the retries and every slow-down the
    service asks for; ``warning`` only what goes wrong. When neither the package's logger nor
    the root logger has a handler, one writing to stderr is added, so the lines show without
    any logging set-up. Without ``YOURGPT_LOG`` (and no ``level``) nothing is changed; once a
    ``level`` is given, ``YOURGPT_LOG`` is no longer read.

    Raises:
        ConfigurationError: The value is not one of ``debug``, ``info``, ``warning``.
    """
    global _chosen  # noqa: PLW0603 - one process-wide choice, as the logger itself is
    if level is None and _chosen:
        return
    value = os.environ.get("YOURGPT_LOG") if level is None else level
    if not value:
        return
    number = _LEVELS.get(value.strip().lower())
    if number is None:
        raise ConfigurationError(f"YOURGPT_LOG must be one of {', '.join(_LEVELS)}, got {value!r}")
    _chosen = _chosen or level is not None
    logger.setLevel(number)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)


# -- the hooks' events -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RequestEvent:
    """Handed to ``on_request`` as an HTTP attempt is about to be sent.

    Attributes:
        endpoint: The API endpoint, e.g. ``"sendMessage"``.
        attempt: The attempt's number within its call, from 1.
        wait: Seconds this attempt waited for a turn (the concurrency gate and the limiter).
    """

    endpoint: str
    attempt: int
    wait: float


@attrs.frozen(kw_only=True)
class ResponseEvent:
    """Handed to ``on_response`` when an HTTP attempt has ended, well or not.

    Attributes:
        endpoint: The API endpoint.
        attempt: The attempt's number within its call, from 1.
        status: The HTTP status, or ``None`` when no reply came (or none was sent).
        elapsed: Seconds from sending to the end of the reply (0 when nothing was sent).
        request_id: The reply's ``x-request-id``, if any.
        error: What went wrong with this attempt, or ``None``; it may still be retried.
        headers: The reply's headers (empty when no reply came).
    """

    endpoint: str
    attempt: int
    status: int | None
    elapsed: float
    request_id: str | None
    error: YourGPTError | None
    headers: Mapping[str, str] = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class RetryEvent:
    """Handed to ``on_retry`` when a failed attempt is about to be retried.

    Attributes:
        endpoint: The API endpoint.
        attempt: The number of the attempt that failed.
        wait: Seconds the client waits before the next attempt.
        error: Why the attempt failed.
    """

    endpoint: str
    attempt: int
    wait: float
    error: YourGPTError


@attrs.frozen(kw_only=True)
class ThrottleEvent:
    """Handed to ``on_throttle`` when the service answers 429 or 503 and the client slows down.

    Attributes:
        endpoint: The API endpoint whose reply asked for it.
        status: 429 or 503.
        retry_after: Seconds every call of the client now pauses (``Retry-After``), or ``None``.
        rate: The rate the limiter keeps to from now on, in requests per second, when it has
            one (``inf`` when unpaced).
    """

    endpoint: str
    status: int
    retry_after: float | None
    rate: float | None


Hook = Callable[[Any], object]


# -- OpenTelemetry, only when the application set it up -----------------------------------


def _provider_set(provider: object) -> bool:
    # The API's stand-ins before a provider is set, or when OpenTelemetry is disabled.
    return type(provider).__name__ not in {
        "ProxyTracerProvider",
        "NoOpTracerProvider",
        "_ProxyMeterProvider",
        "NoOpMeterProvider",
    }


class _Metrics:
    """The process's instruments, made once, reporting every live client's limiter."""

    instance: _Metrics | None = None

    def __init__(self, meter: Any) -> None:
        from opentelemetry.metrics import Observation

        self._clients: weakref.WeakValueDictionary[str, Telemetry] = weakref.WeakValueDictionary()

        def observe(read: Callable[[Limiter], float | None]) -> Callable[[Any], Iterable[Any]]:
            def callback(_: Any) -> Iterable[Any]:
                for name, telemetry in list(self._clients.items()):
                    value = read(telemetry.limiter)
                    if value is not None:
                        yield Observation(value, {"yourgpt.client": name})

            return callback

        meter.create_observable_gauge(
            "yourgpt.limiter.rate",
            callbacks=[observe(lambda limiter: getattr(limiter, "rate", None))],
            unit="{request}/s",
            description="The rate the client's limiter keeps to",
        )
        meter.create_observable_up_down_counter(
            "yourgpt.limiter.waiting",
            callbacks=[observe(lambda limiter: getattr(limiter, "waiting", None))],
            unit="{call}",
            description="Calls waiting for the limiter's turn",
        )
        self.throttled = meter.create_counter(
            "yourgpt.throttled",
            unit="{response}",
            description="429 and 503 replies that slowed the client down",
        )
        self.paused = meter.create_counter(
            "yourgpt.limiter.pause",
            unit="s",
            description="Seconds of pause the service asked for (Retry-After)",
        )

    def add(self, name: str, telemetry: Telemetry) -> None:
        self._clients[name] = telemetry


def _open_telemetry() -> tuple[Any, _Metrics | None]:
    """The tracer and the metrics, each ``None`` unless its provider is set."""
    if "opentelemetry" not in sys.modules:
        return None, None  # the application has not imported it: neither do we
    from opentelemetry import metrics, trace

    tracer = None
    if _provider_set(trace.get_tracer_provider()):
        tracer = trace.get_tracer("yourgpt_async")
    instruments = _Metrics.instance
    if instruments is None and _provider_set(metrics.get_meter_provider()):
        instruments = _Metrics.instance = _Metrics(metrics.get_meter("yourgpt_async"))
    return tracer, instruments


# -- per client and per call ---------------------------------------------------------------

_serial = itertools.count(1)


class Telemetry:
    """What watches one client (and all its views): its hooks, its tracer and its metrics."""

    def __init__(
        self,
        limiter: Limiter,
        *,
        host: str,
        on_request: Hook | None = None,
        on_response: Hook | None = None,
        on_retry: Hook | None = None,
        on_throttle: Hook | None = None,
    ) -> None:
        for name, hook in (
            ("on_request", on_request),
            ("on_response", on_response),
            ("on_retry", on_retry),
            ("on_throttle", on_throttle),
        ):
            settings.hook(name, hook)
        self.limiter = limiter
        self.host = host
        self.on_request = on_request
        self.on_response = on_response
        self.on_retry = on_retry
        self.on_throttle = on_throttle
        self.tracer, self.metrics = _open_telemetry()
        if self.metrics is not None:
            self.metrics.add(str(next(_serial)), self)
        self.always = (
            self.tracer is not None
            or self.metrics is not None
            or any(hook is not None for hook in (on_request, on_response, on_retry, on_throttle))
        )

    def trace(self, endpoint: str, *, force: bool = False) -> CallTrace | None:
        """A trace for one call of ``endpoint``, or ``None`` when nothing would look at it."""
        if force or self.always or logger.isEnabledFor(logging.INFO):
            return CallTrace(self, endpoint)
        return None

    def call_hook(self, hook: Hook, event: object) -> None:
        """Run a hook; an exception in it is logged, never raised into the call (a message
        already delivered must not look failed because a metrics hook broke). A hook that
        returns an awaitable (a plain function handing back a coroutine) is told so in the log:
        it is not awaited, and a coroutine is closed rather than left never awaited."""
        try:
            result = hook(event)
        except Exception:
            logger.exception("the %s hook raised; the call goes on", type(event).__name__)
            return
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            logger.error(
                "the %s hook returned an awaitable, which is not awaited: hooks run inline; "
                "hand the event to a task of yours instead",
                type(event).__name__,
            )


class CallTrace:
    """One call, attempt by attempt: feeds the log, the hooks, a span and a raw response.

    The client calls :meth:`begin_attempt` and :meth:`end_attempt` around each attempt and
    :meth:`retrying` before each backoff; the transport calls :meth:`sending` once the gate and
    the limiter let the request go, and :meth:`replied` when the reply's head is in.
    """

    __slots__ = (
        "_span",
        "_span_context",
        "_started",
        "_telemetry",
        "attempt",
        "elapsed",
        "endpoint",
        "error",
        "headers",
        "sent_at",
        "status",
        "total_wait",
        "wait",
    )

    def __init__(self, telemetry: Telemetry, endpoint: str) -> None:
        self._telemetry = telemetry
        self.endpoint = endpoint
        self.attempt = 0
        self.total_wait = 0.0
        self.wait = self.elapsed = 0.0
        self._started = 0.0
        self.sent_at = -1.0
        self.status: int | None = None
        self.headers: Mapping[str, str] = {}
        self.error: YourGPTError | None = None
        self._span: Any = None
        self._span_context: Any = None

    # -- the span around the call

    def __enter__(self) -> CallTrace:
        tracer = self._telemetry.tracer
        if tracer is not None:
            from opentelemetry import trace

            self._span = tracer.start_span(
                f"yourgpt.{self.endpoint}",
                kind=trace.SpanKind.CLIENT,
                attributes={
                    "yourgpt.endpoint": self.endpoint,
                    "server.address": self._telemetry.host,
                },
            )
            self._span_context = trace.use_span(self._span, end_on_exit=False)
            self._span_context.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self._span
        if span is None:
            return
        self._span_context.__exit__(exc_type, exc, tb)
        _end_span(span, self, exc)

    # -- attempts

    def begin_attempt(self) -> None:
        self.attempt += 1
        self._started = time.perf_counter()
        self.sent_at = -1.0  # not sent yet
        self.wait = self.elapsed = 0.0
        self.status = None
        self.headers = {}

    def sending(self) -> None:
        """The gate and the limiter let the request go."""
        self.sent_at = now = time.perf_counter()
        self.wait = now - self._started
        self.total_wait += self.wait
        hook = self._telemetry.on_request
        if hook is not None:
            event = RequestEvent(endpoint=self.endpoint, attempt=self.attempt, wait=self.wait)
            self._telemetry.call_hook(hook, event)

    def replied(self, status: int, headers: Mapping[str, str]) -> None:
        """The reply's status and headers are in."""
        self.status = status
        self.headers = headers

    def end_attempt(self, error: YourGPTError | None) -> None:
        """The attempt is over: log it, tell the hooks, and note a slow-down."""
        if self.sent_at >= 0:
            self.elapsed = time.perf_counter() - self.sent_at
        if self.status is None and isinstance(error, APIError):
            self.status = error.status
        self.error = error
        request_id = self.headers.get("x-request-id")
        if logger.isEnabledFor(logging.DEBUG):
            _log_attempt(self, request_id)
        telemetry = self._telemetry
        if telemetry.on_response is not None:
            event = ResponseEvent(
                endpoint=self.endpoint,
                attempt=self.attempt,
                status=self.status,
                elapsed=self.elapsed,
                request_id=request_id,
                error=error,
                headers=self.headers,
            )
            telemetry.call_hook(telemetry.on_response, event)
        if isinstance(error, APIError) and error.kind is FailureKind.THROTTLED:
            self._throttled(error)

    def _throttled(self, error: APIError) -> None:
        telemetry = self._telemetry
        rate = getattr(telemetry.limiter, "rate", None)
        pause = error.retry_after
        logger.info(
            "%s: HTTP %d, the service asks to slow down; %s; limiter rate now %s",
            self.endpoint,
            error.status,
            "no Retry-After" if pause is None else f"every call pauses {pause:.3f} s",
            _rate_text(rate),
        )
        if telemetry.metrics is not None:
            telemetry.metrics.throttled.add(1, {"yourgpt.endpoint": self.endpoint})
            if pause:
                telemetry.metrics.paused.add(pause, {"yourgpt.endpoint": self.endpoint})
        if telemetry.on_throttle is not None:
            event = ThrottleEvent(
                endpoint=self.endpoint, status=error.status, retry_after=pause, rate=rate
            )
            telemetry.call_hook(telemetry.on_throttle, event)

    def retrying(self, attempt: int, wait: float, error: BaseException) -> None:
        """Attempt ``attempt`` failed and the next comes after ``wait`` seconds."""
        if not isinstance(error, YourGPTError):
            return
        if self._span is not None:
            self._span.add_event(
                "retry",
                {
                    "yourgpt.attempt": attempt,
                    "yourgpt.retry.wait": wait,
                    "error.type": type(error).__name__,
                },
            )
        hook = self._telemetry.on_retry
        if hook is not None:
            event = RetryEvent(endpoint=self.endpoint, attempt=attempt, wait=wait, error=error)
            self._telemetry.call_hook(hook, event)


def _rate_text(rate: float | None) -> str:
    if rate is None:
        return "unknown"
    return "unpaced" if math.isinf(rate) else f"{rate:.1f}/s"


def _log_attempt(trace: CallTrace, request_id: str | None) -> None:
    error = trace.error
    if trace.status is not None:
        outcome = f"HTTP {trace.status}"
        if error is not None:
            outcome += f" ({type(error).__name__}, {error.kind.value})"
    elif error is not None:
        outcome = f"no reply ({type(error).__name__}, {error.kind.value})"
    else:
        outcome = "no reply"
    logger.debug(
        "%s attempt %d: %s in %.1f ms; request id %s; waited %.1f ms for a turn",
        trace.endpoint,
        trace.attempt,
        outcome,
        trace.elapsed * 1000,
        request_id or "none",
        trace.wait * 1000,
    )


def _end_span(span: Any, trace: CallTrace, exc: BaseException | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("yourgpt.attempts", trace.attempt)
    span.set_attribute("yourgpt.wait", trace.total_wait)
    if trace.status is not None:
        span.set_attribute("http.response.status_code", trace.status)
    request_id = trace.headers.get("x-request-id")
    if request_id:
        span.set_attribute("yourgpt.request_id", request_id)
    if exc is not None:
        span.set_attribute("error.type", type(exc).__name__)
        if isinstance(exc, YourGPTError):
            span.set_attribute("yourgpt.failure_kind", exc.kind.value)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.end()

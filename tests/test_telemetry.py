"""Seeing what the client does: the log line per attempt, YOURGPT_LOG, the hooks, and
OpenTelemetry spans and metrics read back through the SDK's in-memory exporters."""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _fakes import ClientFactory
from _hostile import KEY, HostileServer, http
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from yourgpt_async import (
    AsyncClient,
    AsyncPlatformClient,
    ConfigurationError,
    NotFoundError,
    RateLimitError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    ThrottleEvent,
    _telemetry,
)
from yourgpt_async.testing import Emulator, Fault

SECRET_TEXT = "my card number is 4111"


def our_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "yourgpt_async"]


# -- logging ----------------------------------------------------------------------------------


async def test_debug_logs_one_line_per_attempt(
    client: AsyncClient, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG a success and a refusal each log one line: endpoint, attempt, status, time,
    request id and wait; never the key or the message text."""
    uid = (await client.create_session()).session_uid
    with caplog.at_level(logging.DEBUG, logger="yourgpt_async"):
        await client.send_message(uid, SECRET_TEXT)
        with pytest.raises(NotFoundError):
            await client.send_message("12345", SECRET_TEXT)
    success, refused = our_lines(caplog)
    sent, failed = emulator.requests[-2:]
    assert success.startswith("sendMessage attempt 1: HTTP 200 in ")
    assert f"request id {sent.request_id}" in success
    assert "ms for a turn" in success
    assert refused.startswith("sendMessage attempt 1: HTTP 200 (NotFoundError, rejected) in ")
    assert f"request id {failed.request_id}" in refused
    for line in (success, refused):
        assert emulator.api_key not in line
        assert "4111" not in line


async def test_nothing_is_logged_or_traced_at_the_default_level(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """With the package's logger at WARNING and no hooks or OpenTelemetry, a call is not even
    traced: the request path is the bare one."""
    with caplog.at_level(logging.WARNING, logger="yourgpt_async"):
        assert client._caller.telemetry.trace("sendMessage") is None
        await client.create_session()
    assert our_lines(caplog) == []


async def test_a_slow_down_is_logged_at_info(
    make_client: ClientFactory, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 logs, at INFO, the pause every call now takes and the limiter's new rate."""
    client = make_client()
    emulator.fault_plan.add("getSessions", Fault.status(429, retry_after=2))
    with caplog.at_level(logging.INFO, logger="yourgpt_async"):
        await client.get_sessions()
    throttled, retried = our_lines(caplog)
    assert throttled.startswith("getSessions: HTTP 429, the service asks to slow down; ")
    assert "every call pauses 2.000 s; limiter rate now " in throttled
    assert throttled.endswith("/s")
    assert retried.startswith("retrying getSessions: attempt 1 failed")


def run_script(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("YOURGPT_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_yourgpt_log_switches_logging_on() -> None:
    """YOURGPT_LOG=debug, with no logging set up at all, prints a line per attempt to stderr;
    without it nothing is printed, and nothing imports OpenTelemetry."""
    code = """
        import asyncio, sys
        from yourgpt_async import AsyncClient
        from yourgpt_async.testing import EmulatorThread

        async def main(emulator):
            async with AsyncClient(
                emulator.api_key, widget_uid=emulator.widget_uid, base_url=emulator.base_url
            ) as yg:
                await yg.create_session()

        with EmulatorThread() as emulator:
            asyncio.run(main(emulator))
        print("opentelemetry" in sys.modules)
    """
    switched = run_script(code, YOURGPT_LOG="debug")
    assert switched.returncode == 0, switched.stderr
    assert "DEBUG yourgpt_async: createSession attempt 1: HTTP 200 in " in switched.stderr
    assert switched.stdout.strip() == "False"
    quiet = run_script(code)
    assert (quiet.returncode, quiet.stderr, quiet.stdout.strip()) == (0, "", "False")


def test_an_unknown_yourgpt_log_value_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """YOURGPT_LOG=verbose fails the client's construction, naming the accepted values."""
    monkeypatch.setenv("YOURGPT_LOG", "verbose")
    with pytest.raises(ConfigurationError, match="YOURGPT_LOG must be one of debug, info"):
        AsyncClient("apk-x", base_url="http://127.0.0.1:9/v1")


# -- hooks ------------------------------------------------------------------------------------


async def test_hooks_see_each_attempt_retry_and_slow_down(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """on_request, on_response, on_throttle and on_retry are called in order with what each
    attempt saw, here a 429 and then a success."""
    events: list[Any] = []
    client = make_client(
        on_request=events.append,
        on_response=events.append,
        on_retry=events.append,
        on_throttle=events.append,
    )
    emulator.fault_plan.add("getSessions", Fault.status(429, retry_after=3))
    await client.get_sessions()
    kinds = [type(event).__name__ for event in events]
    assert kinds == [
        "RequestEvent",
        "ResponseEvent",
        "ThrottleEvent",
        "RetryEvent",
        "RequestEvent",
        "ResponseEvent",
    ]
    first_request, throttled_reply, throttle, retry, second_request, reply = events
    assert isinstance(first_request, RequestEvent)
    assert (first_request.endpoint, first_request.attempt) == ("getSessions", 1)
    assert isinstance(throttled_reply, ResponseEvent)
    assert (throttled_reply.status, throttled_reply.attempt) == (429, 1)
    assert isinstance(throttled_reply.error, RateLimitError)
    assert throttled_reply.request_id == emulator.requests[0].request_id
    assert isinstance(throttle, ThrottleEvent)
    assert (throttle.status, throttle.retry_after) == (429, 3.0)
    assert throttle.rate is not None
    assert isinstance(retry, RetryEvent)
    assert (retry.attempt, retry.wait) == (1, 3.0)
    assert isinstance(second_request, RequestEvent)
    assert second_request.attempt == 2
    assert isinstance(reply, ResponseEvent)
    assert (reply.status, reply.error, reply.attempt) == (200, None, 2)
    assert reply.elapsed > 0
    assert reply.headers["x-request-id"] == reply.request_id == emulator.requests[1].request_id


async def test_a_connection_failure_reaches_on_response_without_a_status(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """An attempt that gets no reply is reported with status None and its error."""
    events: list[ResponseEvent] = []
    client = make_client(on_response=events.append)
    emulator.fault_plan.add("getSessions", Fault.drop_before())
    await client.get_sessions()
    dropped, answered = events
    assert (dropped.status, type(dropped.error).__name__) == (None, "TransportError")
    assert dropped.headers == {}
    assert answered.status == 200


async def test_a_failing_hook_is_logged_not_raised(
    make_client: ClientFactory, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises does not fail the call (the message was delivered): it is logged."""

    def broken(event: object) -> None:
        raise ValueError("metrics backend down")

    client = make_client(on_response=broken)
    uid = (await client.create_session()).session_uid
    reply = await client.send_message(uid, "Hi")
    assert reply.message == "You said: Hi"
    assert emulator.delivered("Hi") == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors
    assert errors[0].getMessage() == "the ResponseEvent hook raised; the call goes on"


def test_a_hook_must_be_callable() -> None:
    """A hook that is not callable is refused at construction."""
    with pytest.raises(ConfigurationError, match="on_retry must be a callable or None"):
        AsyncClient("apk-x", base_url="http://127.0.0.1:9/v1", on_retry="print")  # type: ignore[arg-type]


async def _async_hook(event: object) -> None:
    """An async hook: what the client refuses."""


class _AsyncCallable:
    async def __call__(self, event: object) -> None:
        """An object whose __call__ is async."""


async def _async_generator(event: object) -> AsyncIterator[None]:
    yield


@pytest.mark.parametrize(
    "hook",
    [_async_hook, functools.partial(_async_hook), _AsyncCallable(), _async_generator],
    ids=["async-def", "partial", "async-call", "async-generator"],
)
@pytest.mark.parametrize("name", ["on_request", "on_response", "on_retry", "on_throttle"])
def test_an_async_hook_is_refused_not_dropped(name: str, hook: Any) -> None:
    """An async def hook would never run (hooks are not awaited): both clients refuse it at
    construction with a ConfigurationError naming it and saying what to do instead."""
    for make in (AsyncClient, AsyncPlatformClient):
        with pytest.raises(ConfigurationError, match=f"{name} must be a plain function") as caught:
            make("apk-x", base_url="http://127.0.0.1:9/v1", **{name: hook})
        assert "asyncio.Queue" in str(caught.value)


async def test_a_hook_returning_a_coroutine_is_told_not_left_unawaited(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain hook that hands back a coroutine (a lambda calling an async function): the call
    goes on, the coroutine is closed (no "never awaited" warning) and the log says why."""

    def hand_back(event: object) -> object:
        return _async_hook(event)

    client = make_client(on_response=hand_back)
    await client.get_sessions()
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "returned an awaitable, which is not awaited" in record.getMessage()


# -- OpenTelemetry ----------------------------------------------------------------------------


def _reset_otel_globals() -> None:
    """Forget the global providers, as OpenTelemetry's own test utilities do."""
    from opentelemetry.metrics import _internal as metrics_internal

    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    metrics_internal._PROXY_METER_PROVIDER = metrics_internal._ProxyMeterProvider()
    _telemetry._Metrics.instance = None


@pytest.fixture
def otel() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    """Global tracer and meter providers exporting to memory, for one test."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    _reset_otel_globals()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    yield exporter, reader
    _reset_otel_globals()
    tracer_provider.shutdown()
    meter_provider.shutdown()


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


async def test_each_call_is_a_span(
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader],
    make_client: ClientFactory,
    emulator: Emulator,
) -> None:
    """With a tracer provider set, a call is one CLIENT span yourgpt.<endpoint> with its
    status, attempts, wait and request id; a retry is an event; a failure sets the error."""
    exporter, _ = otel
    client = make_client()
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.status(503, retry_after=1))
    await client.send_message(uid, SECRET_TEXT)
    with pytest.raises(NotFoundError):
        await client.send_message("12345", "x")
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())
    assert [span.name for span in spans] == [
        "yourgpt.createSession",
        "yourgpt.sendMessage",
        "yourgpt.sendMessage",
    ]
    created, sent, refused = spans
    assert created.kind is trace.SpanKind.CLIENT
    assert created.status.is_ok
    attributes = dict(sent.attributes or {})
    assert attributes["yourgpt.endpoint"] == "sendMessage"
    assert attributes["http.response.status_code"] == 200
    assert attributes["yourgpt.attempts"] == 2
    assert attributes["yourgpt.request_id"] == emulator.requests[-2].request_id
    assert attributes["server.address"] == "127.0.0.1"
    assert isinstance(attributes["yourgpt.wait"], float)
    [retry] = sent.events
    assert retry.name == "retry"
    assert dict(retry.attributes or {}) == {
        "yourgpt.attempt": 1,
        "yourgpt.retry.wait": 1.0,
        "error.type": "ServerError",
    }
    failed = dict(refused.attributes or {})
    assert refused.status.status_code is trace.StatusCode.ERROR
    assert (failed["error.type"], failed["yourgpt.failure_kind"]) == ("NotFoundError", "rejected")
    everything = json.dumps([span.to_json() for span in spans])
    assert emulator.api_key not in everything
    assert "4111" not in everything


async def test_the_limiter_exports_metrics(
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader],
    make_client: ClientFactory,
    emulator: Emulator,
) -> None:
    """With a meter provider set, 429s and the pause they ask for are counted, and the
    limiter's rate and queue are observed per client."""
    _, reader = otel
    client = make_client()
    emulator.fault_plan.add("getSessions", Fault.status(429, retry_after=2), Fault.status(429))
    await client.get_sessions()
    points = metric_points(reader)
    [throttled] = points["yourgpt.throttled"]
    assert throttled.value == 2
    assert dict(throttled.attributes) == {"yourgpt.endpoint": "getSessions"}
    [paused] = points["yourgpt.limiter.pause"]
    assert paused.value == 2.0
    rates = points["yourgpt.limiter.rate"]
    assert [p.value for p in rates if p.value == client.limiter.rate]  # type: ignore[attr-defined]
    assert all(p.value == 0 for p in points["yourgpt.limiter.waiting"])


def test_without_a_provider_opentelemetry_costs_nothing(make_client: ClientFactory) -> None:
    """OpenTelemetry imported but no provider set: no tracer, no instruments, no trace."""
    _reset_otel_globals()
    telemetry = make_client()._caller.telemetry
    assert (telemetry.tracer, telemetry.metrics, telemetry.always) == (None, None, False)


async def test_a_credential_echoed_in_a_header_reaches_no_span_log_or_hook(
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader],
    server: HostileServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A service answering with the key as its x-request-id (and in another header): the span's
    request id, the DEBUG line, the hook's event and the raw response hold *** instead."""
    exporter, _ = otel
    server.reply = http(
        {"type": "RXSUCCESS", "data": []}, headers=[("x-request-id", KEY), ("X-Seen", f"k={KEY}")]
    )
    events: list[ResponseEvent] = []
    with caplog.at_level(logging.DEBUG, logger="yourgpt_async"):
        async with AsyncClient(KEY, base_url=server.base_url, on_response=events.append) as client:
            raw = await client.with_raw_response.get_sessions()
    [span] = exporter.get_finished_spans()
    [event] = events
    assert dict(span.attributes or {})["yourgpt.request_id"] == "***"
    assert (event.request_id, event.headers["X-Seen"]) == ("***", "k=***")
    assert (raw.request_id, raw.headers["x-seen"]) == ("***", "k=***")
    assert "request id ***" in caplog.text
    texts = [json.dumps(span.to_json()), caplog.text, repr(event), repr(dict(raw.headers))]
    assert [text for text in texts if KEY in text] == []

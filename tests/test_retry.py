"""The retry table, end to end: each failure kind on each endpoint, over real loopback HTTP.

Every case checks the outcome, how many requests the emulator received, what it stored, and
the waits the retry policy asked of the (fake) sleep.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
from _calls import Clients, stored
from _fakes import FakeClock

from yourgpt_async import (
    APIError,
    AsyncClient,
    AsyncPlatformClient,
    AuthenticationError,
    BadRequestError,
    ConnectError,
    DeliveryUnknownError,
    NotFoundError,
    PermissionDeniedError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    ServerError,
    ServerErrorInDoubt,
    Timeouts,
    TransportError,
    YourGPTError,
)
from yourgpt_async._endpoints import Family, Safety, registry
from yourgpt_async._wire import parse_retry_after
from yourgpt_async.testing import Emulator, Fault

# Every (family, endpoint) the SDK declares: test_registry holds CALLS to the registry.
ENDPOINTS = [
    pytest.param(family, endpoint.name, id=f"{family.value}-{endpoint.name}")
    for endpoint in registry().values()
    for family in sorted(endpoint.families)
]
BACKOFF = [0.5, 1.0, 2.0]  # initial_backoff 0.5 doubling, jitter off


@attrs.frozen
class Case:
    """One row of the retry table: a fault and what it must lead to."""

    name: str
    fault: Fault
    safe: type[BaseException] | None  # outcome on idempotent endpoints (None: succeeds)
    unsafe: type[BaseException] | None  # outcome on createSession / sendMessage
    safe_requests: int
    unsafe_requests: int
    safe_waits: list[float]
    unsafe_waits: list[float]


# fmt: off
CASES = [
    Case("429 Retry-After", Fault.status(429, retry_after=2), None, None, 2, 2, [2.0], [2.0]),
    Case("503", Fault.status(503), None, None, 2, 2, [0.5], [0.5]),
    Case("503 Retry-After", Fault.status(503, retry_after=3), None, None, 2, 2, [3.0], [3.0]),
    Case("500", Fault.status(500), None, ServerErrorInDoubt, 2, 1, [0.5], []),
    Case("502", Fault.status(502), None, ServerErrorInDoubt, 2, 1, [0.5], []),
    Case("504", Fault.status(504), None, ServerErrorInDoubt, 2, 1, [0.5], []),
    Case("502 HTML page", Fault.html(502), None, ServerErrorInDoubt, 2, 1, [0.5], []),
    Case("drop before", Fault.drop_before(), None, DeliveryUnknownError, 2, 1, [0.5], []),
    Case("drop after", Fault.drop_after(), None, DeliveryUnknownError, 2, 1, [0.5], []),
    Case("truncated 200", Fault.truncated(), None, DeliveryUnknownError, 2, 1, [0.5], []),
    Case("empty 200", Fault.empty(), None, DeliveryUnknownError, 2, 1, [0.5], []),
    Case("not JSON 200", Fault.not_json(), None, DeliveryUnknownError, 2, 1, [0.5], []),
    Case("wrong shape 200", Fault.wrong_shape(), None, DeliveryUnknownError, 2, 1, [0.5], []),
    Case("RXERROR at 200", Fault.rxerror(), BadRequestError, BadRequestError, 1, 1, [], []),
    Case("400", Fault.status(400), BadRequestError, BadRequestError, 1, 1, [], []),
    Case("401", Fault.status(401), AuthenticationError, AuthenticationError, 1, 1, [], []),
    Case("403", Fault.status(403), PermissionDeniedError, PermissionDeniedError, 1, 1, [], []),
    Case("404", Fault.status(404), NotFoundError, NotFoundError, 1, 1, [], []),
    Case("409", Fault.status(409), APIError, APIError, 1, 1, [], []),
]
# fmt: on


class Harness:
    """Clients of both families on a fake clock, whose retry waits are recorded apart from the
    limiter's."""

    def __init__(self, emulator: Emulator, fake: FakeClock, **retry: Any) -> None:
        self.emulator = emulator
        self.waits: list[float] = []
        self.fake = fake

        async def retry_sleep(seconds: float) -> None:
            self.waits.append(seconds)
            await fake.sleep(seconds)

        self.clients = Clients(
            emulator,
            RetryPolicy(sleep=retry_sleep, clock=fake.clock, jitter=False, **retry),
            RateLimit(enabled=False, clock=fake.clock, sleep=fake.sleep),
        )
        self.client = self.clients.project

    @property
    def session_uid(self) -> str:
        return self.clients.session_uid

    async def setup(self) -> None:
        await self.clients.setup()
        self.emulator.reset()

    async def aclose(self) -> None:
        await self.clients.aclose()

    def call(
        self, endpoint: str, family: Family = Family.PROJECT
    ) -> Callable[[], Awaitable[object]]:
        return self.clients.call(family, endpoint)


@pytest.fixture
async def harness(emulator: Emulator, fake_clock: FakeClock) -> Any:
    """A client on the fake clock, with a session made before any fault is planned."""
    h = Harness(emulator, fake_clock)
    await h.setup()
    yield h
    await h.aclose()


@pytest.mark.parametrize(("family", "endpoint"), ENDPOINTS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_retry_table(harness: Harness, case: Case, family: Family, endpoint: str) -> None:
    """Each failure on each endpoint of each family gives the table's outcome for the
    endpoint's declared safety, its request count and waits, and a write stored at most once."""
    unsafe = registry()[endpoint].safety in (Safety.CREATE, Safety.CALL)
    expected = case.unsafe if unsafe else case.safe
    harness.emulator.fault_plan.add(endpoint, case.fault)

    if expected is None:
        await harness.call(endpoint, family)()
    else:
        with pytest.raises(expected) as raised:
            await harness.call(endpoint, family)()
        assert type(raised.value) is expected
        assert raised.value.attempts == (case.unsafe_requests if unsafe else case.safe_requests)

    assert harness.emulator.request_count(endpoint) == (
        case.unsafe_requests if unsafe else case.safe_requests
    )
    assert harness.waits == (case.unsafe_waits if unsafe else case.safe_waits)
    count = stored(harness.emulator, family, endpoint)
    if count is not None:
        processed_once = case.fault.kind.processes_request or expected is None
        assert count == (1 if processed_once else 0)


@pytest.mark.parametrize(("family", "endpoint"), ENDPOINTS)
async def test_connect_errors_are_retried_everywhere_then_raised(
    emulator: Emulator, fake_clock: FakeClock, family: Family, endpoint: str
) -> None:
    """A refused connection never reached the service, so every endpoint retries it."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    h = Harness(emulator, fake_clock)
    await h.setup()
    dead = f"http://127.0.0.1:{port}/chatbot/v1"
    policy = h.client._caller.retry
    project, platform = h.clients.project, h.clients.platform
    h.clients.project = AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=dead,
        retry=policy,
        rate_limit=RateLimit(enabled=False),
    )
    h.clients.platform = AsyncPlatformClient(
        emulator.api_token, base_url=dead, retry=policy, rate_limit=RateLimit(enabled=False)
    )
    try:
        with pytest.raises(ConnectError) as raised:
            await h.call(endpoint, family)()
    finally:
        await h.aclose()
        await project.aclose()
        await platform.aclose()
    assert raised.value.attempts == 4
    assert h.waits == BACKOFF
    assert "127.0.0.1" in str(raised.value)


@pytest.mark.parametrize(("family", "endpoint"), ENDPOINTS)
async def test_failures_that_persist_exhaust_the_attempts(
    harness: Harness, family: Family, endpoint: str
) -> None:
    """Four 503s in a row: four requests, three backoffs, and the last real error raised."""
    harness.emulator.fault_plan.add(endpoint, Fault.status(503), times=4)
    with pytest.raises(ServerError) as raised:
        await harness.call(endpoint, family)()
    assert raised.value.status == 503
    assert raised.value.attempts == 4
    assert "after 4 attempts" in str(raised.value)
    assert harness.emulator.request_count(endpoint) == 4
    assert harness.waits == BACKOFF


async def test_retry_unsafe_resends_an_ambiguous_send(harness: Harness) -> None:
    """With retry_unsafe=True a dropped sendMessage is sent again (and may be stored twice)."""
    harness.emulator.fault_plan.add("sendMessage", Fault.drop_after())
    policy = RetryPolicy(
        retry_unsafe=True, jitter=False, sleep=harness.fake.sleep, clock=harness.fake.clock
    )
    reply = await harness.client.send_message(harness.session_uid, "hello there", retry=policy)
    assert reply.message == "You said: hello there"
    assert harness.emulator.request_count("sendMessage") == 2
    assert harness.emulator.delivered("hello there") == 2  # the duplicate that was accepted


async def test_delivery_unknown_keeps_the_cause_and_says_what_to_do(harness: Harness) -> None:
    """DeliveryUnknownError is a TransportError, chains the real failure and explains the risk."""
    harness.emulator.fault_plan.add("sendMessage", Fault.status(502))
    with pytest.raises(DeliveryUnknownError) as raised:
        await harness.client.send_message(harness.session_uid, "hello there")
    error = raised.value
    assert isinstance(error, TransportError)
    assert isinstance(error.__cause__, ServerError)
    assert error.endpoint == "sendMessage"
    assert "may" in str(error)
    assert "retry_unsafe" in str(error)


async def test_retry_after_http_date_is_honoured(harness: Harness) -> None:
    """A Retry-After given as an HTTP date is waited for until that instant."""
    when = email.utils.formatdate(timeval=None, usegmt=True)  # now: a date in the past waits 0
    harness.emulator.fault_plan.add("getSessions", Fault.status(429, retry_after=when))
    await harness.client.get_sessions()
    assert len(harness.waits) == 1
    assert 0 <= harness.waits[0] <= 1.0


async def test_retry_after_past_the_deadline_is_not_waited_for(
    emulator: Emulator, fake_clock: FakeClock
) -> None:
    """A Retry-After that would end past the deadline raises the 429 at once, with its wait."""
    h = Harness(emulator, fake_clock, deadline=10.0)
    await h.setup()
    emulator.fault_plan.add("getSessions", Fault.status(429, retry_after=60))
    try:
        with pytest.raises(RateLimitError) as raised:
            await h.client.get_sessions()
    finally:
        await h.aclose()
    assert raised.value.retry_after == 60
    assert h.waits == []
    assert emulator.request_count("getSessions") == 1


async def test_backoff_is_capped_and_jittered(emulator: Emulator, fake_clock: FakeClock) -> None:
    """Full jitter draws each wait from 0 to the doubling bound, never above max_backoff."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await fake_clock.sleep(seconds)

    policy = RetryPolicy(
        attempts=8, initial_backoff=1.0, max_backoff=3.0, sleep=sleep, clock=fake_clock.clock
    )
    emulator.fault_plan.add("getSessions", Fault.status(500), times=7)
    async with AsyncClient(
        emulator.api_key,
        base_url=emulator.base_url,
        retry=policy,
        rate_limit=RateLimit(enabled=False),
    ) as client:
        await client.get_sessions()
    bounds = [1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    assert len(waits) == 7
    assert all(0 <= wait <= bound for wait, bound in zip(waits, bounds, strict=True))
    assert len(set(waits)) > 1  # drawn, not fixed


async def test_a_retry_is_logged_without_key_or_message(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """One log line per retry names endpoint, attempt, reason and wait; no line has the key
    or the text."""
    harness.emulator.fault_plan.add("sendMessage", Fault.status(429, retry_after=1), times=2)
    with caplog.at_level(logging.DEBUG, logger="yourgpt_async"):
        await harness.client.send_message(harness.session_uid, "my secret order number 4411")
    every = [r.getMessage() for r in caplog.records if r.name == "yourgpt_async"]
    lines = [line for line in every if line.startswith("retrying")]
    assert len(lines) == 2
    assert "sendMessage" in lines[0]
    assert "attempt 1" in lines[0]
    assert "HTTP 429" in lines[0]
    assert "1.000s" in lines[0]
    assert len(every) == 7  # besides: 3 attempts (debug) and 2 slow-downs (info)
    for line in every:
        assert harness.emulator.api_key not in line
        assert "4411" not in line


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0.25", 0.25),
        (" 7 ", 7.0),
        ("-5", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # long past
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After reads delay-seconds (also fractional) and HTTP dates; junk is ignored."""
    assert parse_retry_after(value) == expected


def test_parse_retry_after_future_date() -> None:
    """An HTTP date in the future gives the seconds until then, from the given now."""
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    now = email.utils.parsedate_to_datetime(date).timestamp() - 30
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)


async def test_cancelling_mid_retry_leaves_nothing_behind(
    emulator: Emulator, fake_clock: FakeClock
) -> None:
    """Tasks cancelled while waiting to retry free their slots, queue places and tasks."""
    release = asyncio.Event()

    async def blocked_sleep(seconds: float) -> None:
        await release.wait()

    client = AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=emulator.base_url,
        retry=RetryPolicy(sleep=blocked_sleep, clock=fake_clock.clock),
        rate_limit=RateLimit(per_second=5, clock=fake_clock.clock, sleep=blocked_sleep),
        max_concurrency=4,
    )
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.status(503), times=3)
    before = set(asyncio.all_tasks())
    tasks = [asyncio.ensure_future(client.send_message(uid, f"m{i}")) for i in range(10)]
    for _ in range(50):  # let them reach the retry wait and the limiter queue
        await asyncio.sleep(0)
    assert client.limiter.waiting > 0  # type: ignore[attr-defined]
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert client._transport._gate._value == 4  # every concurrency slot was given back
    assert client.limiter.waiting == 0  # type: ignore[attr-defined]
    await client.aclose()
    assert set(asyncio.all_tasks()) - before == set()


async def test_errors_raised_are_all_yourgpt_errors(harness: Harness) -> None:
    """Whatever the fault, callers only ever see YourGPTError subclasses (never tenacity's)."""
    seen: list[type[BaseException]] = []
    for case in CASES:
        harness.emulator.fault_plan.add("getSessions", case.fault, times=4)
        try:
            await harness.call("getSessions")()
        except Exception as error:
            seen.append(type(error))
        harness.emulator.fault_plan.clear()
    assert seen, "some faults must fail even after retries"
    assert all(issubclass(kind, YourGPTError) for kind in seen), seen


async def test_a_timeout_after_sending_is_ambiguous(
    emulator: Emulator, fake_clock: FakeClock
) -> None:
    """A reply slower than the timeout: sendMessage raises DeliveryUnknownError, reads retry."""
    # The timeout leaves room for a loaded machine: the retried read must finish within it.
    client = AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=emulator.base_url,
        timeout=Timeouts(total=0.3),
        retry=RetryPolicy(sleep=fake_clock.sleep, clock=fake_clock.clock),
        rate_limit=RateLimit(enabled=False),
    )
    async with client:
        uid = (await client.create_session()).session_uid
        emulator.fault_plan.add("sendMessage", Fault.latency(1.0))
        with pytest.raises(DeliveryUnknownError) as raised:
            await client.send_message(uid, "slow one")
        assert "TimeoutError" in str(raised.value)
        assert raised.value.attempts == 1
        emulator.fault_plan.add("getSessions", Fault.latency(1.0))
        page = await client.get_sessions()
    assert page.total == 1
    assert len(fake_clock.sleeps) == 1  # one backoff, then the retry that succeeded


async def test_delivery_unknown_after_unsafe_retries_keeps_its_cause(harness: Harness) -> None:
    """With retry_unsafe and every attempt failing 502, the error chains the last ServerError."""
    harness.emulator.fault_plan.add("sendMessage", Fault.status(502), times=4)
    policy = RetryPolicy(
        retry_unsafe=True, jitter=False, sleep=harness.fake.sleep, clock=harness.fake.clock
    )
    with pytest.raises(DeliveryUnknownError) as raised:
        await harness.client.send_message(harness.session_uid, "hello there", retry=policy)
    assert raised.value.attempts == 4
    assert isinstance(raised.value.__cause__, ServerError)
    assert raised.value.__cause__.status == 502

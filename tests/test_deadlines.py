"""Deadlines and the waits before a request: a create or a send keeps its full attempt timeout,
so the time it spends waiting for a slot, a turn or the service's pause never turns a
delivered message into one reported in doubt; what cannot be sent in time is `NotSentError`.

The scenarios run on a virtual clock (the event loop's, which the emulator, aiohttp's timeouts,
the limiter and the retry policy all read), so seconds of AI latency cost no real time and no
outcome depends on how busy the machine is."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _fakes import FakeClock, VirtualTimeLoop, on_virtual_time

from yourgpt_async import (
    AsyncClient,
    DeliveryUnknownError,
    Message,
    NotSentError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    Timeouts,
    YourGPTError,
)
from yourgpt_async._endpoints import Endpoint
from yourgpt_async._project_api import GET_SESSIONS, SEND_MESSAGE
from yourgpt_async._retry import Budget
from yourgpt_async.testing import Emulator, Fault


async def concurrent_sends(
    loop: VirtualTimeLoop, count: int, **options: Any
) -> tuple[dict[str, Message | YourGPTError], Emulator]:
    """``count`` sends at once through one client of an emulator whose AI takes 3 s; each
    message's outcome, and the emulator to look at what it stored."""
    on_loop: dict[str, Any] = {"clock": loop.time, "sleep": asyncio.sleep}
    retry = RetryPolicy(**{"deadline": 7.0, **options.pop("retry", {}), **on_loop})
    async with Emulator(ai_latency=3.0, clock=loop.time) as emulator:
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=retry,
            rate_limit=RateLimit(**on_loop),
            **options,
        )
        async with client:
            uid = (await client.create_session()).session_uid

            async def send(text: str) -> Message | YourGPTError:
                try:
                    return await client.send_message(uid, text)
                except YourGPTError as error:
                    return error

            texts = [f"visitor {n}" for n in range(count)]
            outcomes = await asyncio.gather(*(send(text) for text in texts))
    return dict(zip(texts, outcomes, strict=True)), emulator


def check_outcomes(outcomes: dict[str, Message | YourGPTError], emulator: Emulator) -> None:
    """Nothing in doubt; each answered message stored once, each one not sent never stored."""
    for text, outcome in outcomes.items():
        assert not isinstance(outcome, DeliveryUnknownError), f"{text}: {outcome}"
        if isinstance(outcome, NotSentError):
            assert emulator.delivered(text) == 0
            assert outcome.attempts == 0
        else:
            assert isinstance(outcome, Message), outcome
            assert emulator.delivered(text) == 1


def test_a_send_that_waited_for_a_slot_is_not_cut_short_and_left_in_doubt() -> None:
    """12 sends at once, max_concurrency=4, a 3 s AI, deadline=7 and the default timeouts:
    the ones that got a slot in time are answered; the rest are NotSentError, never sent, and
    no delivered message is reported in doubt (before, 4 were, though all 12 were stored)."""
    outcomes, emulator = on_virtual_time(lambda loop: concurrent_sends(loop, 12, max_concurrency=4))
    check_outcomes(outcomes, emulator)
    answered = [o for o in outcomes.values() if isinstance(o, Message)]
    refused = [o for o in outcomes.values() if isinstance(o, NotSentError)]
    assert (len(answered), len(refused)) == (8, 4)
    assert all("max_concurrency (4)" in str(error) for error in refused)


def test_a_timeout_below_the_deadline_leaves_the_rest_for_waiting() -> None:
    """With Timeouts(total=3.5) and deadline=7, a send may wait 3.5 s for a slot and is then
    sent with its whole 3.5 s; one that would have to wait longer is not sent."""
    outcomes, emulator = on_virtual_time(
        lambda loop: concurrent_sends(loop, 12, max_concurrency=4, timeout=Timeouts(total=3.5))
    )
    check_outcomes(outcomes, emulator)
    refused = [o for o in outcomes.values() if isinstance(o, NotSentError)]
    assert len(refused) == 4
    assert all("full timeout (3.5s, Timeouts.total)" in str(error) for error in refused)


def test_max_wait_fails_fast_at_a_busy_gate() -> None:
    """max_wait=0.5: a send finding every slot busy gives up after half a second, not sent."""
    outcomes, emulator = on_virtual_time(
        lambda loop: concurrent_sends(
            loop, 6, max_concurrency=4, timeout=Timeouts(total=4), retry={"max_wait": 0.5}
        )
    )
    check_outcomes(outcomes, emulator)
    refused = [o for o in outcomes.values() if isinstance(o, NotSentError)]
    assert len(refused) == 2
    assert all("within max_wait (0.5s)" in str(error) for error in refused)


# -- the service's pause ----------------------------------------------------------------------


async def test_a_long_retry_after_with_max_wait_fails_fast_and_names_no_status(
    fake_clock: FakeClock, emulator: Emulator
) -> None:
    """One 429 with Retry-After: 120: under max_wait=1 the call that got it raises the
    service's RateLimitError at once, and every other call fails at once with NotSentError
    (retry_after: the pause left, capped at max_cooldown; no HTTP status; the endpoint named
    once), instead of stalling 30 s."""
    fast = RetryPolicy(max_wait=1, sleep=fake_clock.sleep, clock=fake_clock.clock)
    client = AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=emulator.base_url,
        retry=fast,
        rate_limit=RateLimit(clock=fake_clock.clock, sleep=fake_clock.sleep),
    )
    async with client:
        uid = (await client.create_session()).session_uid
        emulator.fault_plan.add("sendMessage", Fault.status(429, retry_after=120))
        started = fake_clock.now
        with pytest.raises(RateLimitError) as throttled:
            await client.send_message(uid, "first")
        with pytest.raises(NotSentError) as held:
            await client.send_message(uid, "second")
        waited = fake_clock.now - started
    assert (throttled.value.status, throttled.value.retry_after) == (429, 120.0)
    assert held.value.retry_after == pytest.approx(30.0)
    text = str(held.value)
    assert text.startswith("sendMessage: not sent: the service asked this client to pause")
    assert (text.count("sendMessage"), "429:" in text, "HTTP" in text) == (1, False, False)
    assert waited < 1  # nobody waited for the pause
    assert emulator.request_count("sendMessage") == 1
    assert emulator.delivered("second") == 0


async def test_a_retry_that_could_not_be_sent_in_time_raises_the_services_429(
    fake_clock: FakeClock, emulator: Emulator
) -> None:
    """A send met a 429 with Retry-After: 2, and only 4 s of a 6 s deadline would be left for
    a 5 s request: the client does not wait to fail, it raises the 429 the service sent."""
    policy = RetryPolicy(deadline=6, sleep=fake_clock.sleep, clock=fake_clock.clock)
    client = AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=emulator.base_url,
        timeout=Timeouts(total=5),
        retry=policy,
        rate_limit=RateLimit(clock=fake_clock.clock, sleep=fake_clock.sleep),
    )
    async with client:
        uid = (await client.create_session()).session_uid
        emulator.fault_plan.add("sendMessage", Fault.status(429, retry_after=2))
        started = fake_clock.now
        with pytest.raises(RateLimitError) as caught:
            await client.send_message(uid, "once")
        waited = fake_clock.now - started
        emulator.fault_plan.add("getSessions", Fault.status(429, retry_after=2))
        await client.get_sessions()  # a read keeps nothing back: it waits and is retried
    assert (caught.value.status, caught.value.attempts) == (429, 1)
    assert waited < 1
    assert emulator.request_count("getSessions") == 2


async def test_with_retry_unsafe_an_earlier_attempt_that_may_have_landed_keeps_it_in_doubt(
    fake_clock: FakeClock, emulator: Emulator
) -> None:
    """retry_unsafe: a 500 after storing, then a 429 whose pause outlasts the deadline: the
    message may be stored, so the call is in doubt, not the 429 a bulk run would resend."""
    policy = RetryPolicy(
        retry_unsafe=True, deadline=30, sleep=fake_clock.sleep, clock=fake_clock.clock
    )
    client = AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=emulator.base_url,
        timeout=Timeouts(total=5),
        retry=policy,
        rate_limit=RateLimit(clock=fake_clock.clock, sleep=fake_clock.sleep),
    )
    async with client:
        uid = (await client.create_session()).session_uid
        emulator.fault_plan.add(
            "sendMessage", Fault.status_after(500), Fault.status(429, retry_after=600)
        )
        with pytest.raises(DeliveryUnknownError) as caught:
            await client.send_message(uid, "maybe")
    assert isinstance(caught.value.__cause__, RateLimitError)
    assert "an earlier attempt" in str(caught.value)
    assert emulator.delivered("maybe") == 1


# -- the budget, on its own -------------------------------------------------------------------


def budget(
    endpoint: Endpoint[Any], total: float | None, *, deadline: float = 10, **policy: Any
) -> tuple[Budget, FakeClock]:
    clock = FakeClock()
    made = Budget(endpoint, RetryPolicy(deadline=deadline, clock=clock.clock, **policy), total)
    made.begin()
    return made, clock


@pytest.mark.parametrize(
    ("endpoint", "total", "policy", "wait", "reserve"),
    [
        pytest.param(GET_SESSIONS, 60.0, {}, 10.0, 0.0, id="read-keeps-nothing"),
        pytest.param(SEND_MESSAGE, 4.0, {}, 6.0, 4.0, id="send-keeps-its-timeout"),
        pytest.param(SEND_MESSAGE, 60.0, {}, 5.0, 5.0, id="timeout-over-deadline-half"),
        pytest.param(SEND_MESSAGE, None, {}, 5.0, 5.0, id="no-timeout-half"),
        pytest.param(SEND_MESSAGE, 60.0, {"max_wait": 2}, 2.0, 8.0, id="over-deadline-max-wait"),
        pytest.param(SEND_MESSAGE, 4.0, {"max_wait": 1}, 1.0, 4.0, id="max-wait-binds"),
        pytest.param(GET_SESSIONS, 4.0, {"max_wait": 0}, 0.0, 0.0, id="read-never-waits"),
    ],
)
def test_how_long_an_attempt_may_wait(
    endpoint: Endpoint[Any],
    total: float | None,
    policy: dict[str, Any],
    wait: float,
    reserve: float,
) -> None:
    """A read may wait until its deadline; a create or a send until its full timeout would no
    longer fit (half the deadline when it never fits); max_wait caps either."""
    made, _ = budget(endpoint, total, **policy)
    assert made.reserve == reserve
    assert made.wait_left() == pytest.approx(wait)


def test_a_retry_is_started_only_if_it_could_be_sent_in_time() -> None:
    """With 4 s kept of a 10 s deadline, an attempt may start up to 6 s from the call's start."""
    made, clock = budget(SEND_MESSAGE, 4.0)
    assert made.can_start(6.0)
    assert not made.can_start(6.5)
    clock.advance(5.0)
    made.begin()
    assert made.can_start(1.0)
    assert not made.can_start(1.5)
    assert made.time_left() == pytest.approx(5.0)

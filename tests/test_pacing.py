"""Deadlines, cool-downs, rate-limit headers and the probing budget: the limiter on the fake
clock, the header parser on its own, and whole calls over loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _fakes import FakeClock, VirtualTimeLoop, on_virtual_time
from _pacing_sim import InstantLoop, local_limiter, run_virtual
from aiohttp import web
from multidict import CIMultiDict

from yourgpt_async import (
    AsyncClient,
    ConfigurationError,
    DeliveryUnknownError,
    NotSentError,
    Priority,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    Timeouts,
)
from yourgpt_async.pacing._headers import RateHints, rate_hints
from yourgpt_async.pacing._limiter import Limiter, NoTurnInTime
from yourgpt_async.pacing._local import LocalLimiter
from yourgpt_async.pacing._rules import ASSUMED_BURST, MARGIN, SENT_KEPT
from yourgpt_async.testing import Emulator, Fault


def limiter(fake: FakeClock, **options: object) -> LocalLimiter:
    return LocalLimiter(RateLimit(clock=fake.clock, sleep=fake.sleep, **options))  # type: ignore[arg-type]


# -- the cool-down and deadlines -------------------------------------------------------------


async def test_an_absurd_retry_after_holds_the_client_for_max_cooldown_at_most(
    fake_clock: FakeClock,
) -> None:
    """Retry-After: 999999 pauses every call for max_cooldown, not eleven days."""
    lim = limiter(fake_clock, per_second=100, max_cooldown=30)
    lim.on_throttled(await lim.acquire(), 999999.0)
    start = fake_clock.now
    granted = await lim.acquire()
    assert granted - start == pytest.approx(30.0)
    assert lim.paused_seconds == pytest.approx(30.0)


def test_max_cooldown_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_cooldown"):
        RateLimit(max_cooldown=0)


async def test_a_caller_whose_deadline_ends_in_the_cool_down_fails_at_once(
    fake_clock: FakeClock,
) -> None:
    """acquire_within gives up at once when the cool-down outlasts the caller's time."""
    lim = limiter(fake_clock, per_second=100)
    lim.on_throttled(await lim.acquire(), 5.0)
    with pytest.raises(NoTurnInTime) as raised:
        await lim.acquire_within(2.0)
    assert raised.value.cooldown
    assert raised.value.wait == pytest.approx(5.0)
    assert fake_clock.sleeps == []  # nobody slept for it
    assert await lim.acquire_within(6.0) >= fake_clock.now - 1e-9  # a longer deadline waits


async def test_callers_queued_when_a_429_lands_fail_if_it_outlasts_their_deadline(
    fake_clock: FakeClock,
) -> None:
    """A new cool-down fails the queued callers it would keep past their deadline, not the
    others."""
    lim = limiter(fake_clock, per_second=1)
    first = await lim.acquire()
    short = asyncio.ensure_future(lim.acquire_within(3.0))
    long = asyncio.ensure_future(lim.acquire_within(60.0))
    await asyncio.sleep(0)
    lim.on_throttled(first, 10.0)
    with pytest.raises(NoTurnInTime):
        await short
    assert await long >= first + 10.0 - 1e-9


async def test_a_queued_caller_gives_up_at_its_deadline(fake_clock: FakeClock) -> None:
    """Behind a slow rate, a caller still queued at its deadline fails then, not later."""
    lim = limiter(fake_clock, per_second=0.5)  # one turn every 2.02 s
    await lim.acquire()
    start = fake_clock.now
    with pytest.raises(NoTurnInTime) as raised:
        await lim.acquire_within(1.0)
    assert not raised.value.cooldown
    assert fake_clock.now - start == pytest.approx(1.0)
    assert lim.waiting == 0


async def test_the_abstract_limiter_bounds_acquire_by_default() -> None:
    """A limiter that only implements acquire still gives up at the deadline."""

    class Slow(Limiter):
        async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> float:
            await asyncio.sleep(10)
            return 0.0

        def on_success(self, ticket: float) -> None: ...

        def on_throttled(self, ticket: float, retry_after: float | None) -> None: ...

    slow = Slow()
    with pytest.raises(NoTurnInTime):
        await slow.acquire_within(0.01)
    slow.on_rate_headers(0.0, RateHints(remaining=1, reset=1.0))  # ignored by default


# -- probing, and what it costs ----------------------------------------------------------------


async def _held_back_successes(lim: LocalLimiter, fake: FakeClock, count: int) -> None:
    """Report ``count`` successes a millisecond apart while a caller waits for a turn."""
    await lim.acquire()  # so that the next caller has to wait
    waiter = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0)
    for _ in range(count):
        fake.advance(0.001)
        lim.on_success(fake.now)
    await lim.aclose()
    await asyncio.gather(waiter, return_exceptions=True)


async def test_after_a_costly_429_the_rate_holds_until_the_budget_allows_a_probe(
    fake_clock: FakeClock,
) -> None:
    """A whole-second Retry-After at 100/s costs 100 requests: the rate does not climb again
    while that pause is more than 3 % of the time since the limiter was first used."""
    lim = limiter(fake_clock, initial_per_second=200, decrease=0.9)
    lim.on_throttled(await lim.acquire(), None)  # slow start ends: 100/s
    fake_clock.advance(0.01)
    lim.on_throttled(fake_clock.now, 1.0)  # a costly 429: 72.9/s
    settled = lim.rate
    await _held_back_successes(lim, fake_clock, 50)
    assert lim.rate == settled
    fake_clock.advance(100.0)  # 1 s of pause against 100 s: probing is affordable again
    await _held_back_successes(lim, fake_clock, 50)
    assert lim.rate > settled


async def _slow_start_accepting(lim: LocalLimiter, fake: FakeClock, per_second: float) -> None:
    """Hold a caller back (demand begins), then report half a second of successes at
    ``per_second``, the way a service accepts them until its burst is spent."""
    await lim.acquire()
    waiter = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0)
    for _ in range(int(per_second / 2)):
        fake.advance(1 / per_second)
        lim.on_success(fake.now)
    await lim.aclose()
    await asyncio.gather(waiter, return_exceptions=True)


async def test_a_costly_first_429_resumes_at_the_rate_the_service_accepted(
    fake_clock: FakeClock,
) -> None:
    """Ending slow start with a whole-second pause, the rate goes 3 % under what the service
    accepted while demand lasted (100/s here): not a blind halving that a second pause would
    have to correct, nor the limit itself, which the next jitter would cross."""
    lim = limiter(fake_clock, initial_per_second=100.0)
    await _slow_start_accepting(lim, fake_clock, 100.0)
    lim.on_throttled(fake_clock.now, 1.0)
    assert lim.rate == pytest.approx(100.0 * MARGIN)


async def test_replies_still_coming_during_the_pause_raise_the_estimate(
    fake_clock: FakeClock,
) -> None:
    """The 429 that ends slow start overtakes replies to requests sent before it: each one
    that arrives while the pause lasts is counted, and the rate rises with them (50 at
    100/s, then 40 at 1000/s: the latter span says more); once sending has resumed, a late
    reply changes nothing."""
    lim = limiter(fake_clock, initial_per_second=100.0)
    await _slow_start_accepting(lim, fake_clock, 100.0)  # 50 in 0.5 s: 100/s
    sent = [fake_clock.now + 0.001 * n for n in range(1, 41)]  # 40 more in 0.04 s
    fake_clock.advance(0.05)
    throttled_at = fake_clock.now
    lim.on_throttled(throttled_at, 1.0)
    before = lim.rate
    for ticket in sent:
        lim.on_success(ticket)
    raised = lim.rate
    assert raised > before
    # The best span: from the last of the 50 to the 429, 41 accepted in 0.05 s, plus the
    # assumed burst.
    estimate = 41 / (throttled_at - (sent[0] - 0.001) + ASSUMED_BURST)
    assert raised == pytest.approx(estimate * MARGIN)
    fake_clock.advance(1.0)  # the pause is over
    lim.on_success(sent[-1])
    assert lim.rate == raised


async def _chunk_then_429(lim: LocalLimiter, fake: FakeClock, chunk: int, after: float) -> None:
    """After a costly first 429 (and its 1 s pause), report ``chunk`` successes spread over
    ``after`` seconds from the pause's end, then a 1 s 429."""
    await _slow_start_accepting(lim, fake, 100.0)  # 50 accepted in 0.5 s
    lim.on_throttled(fake.now, 1.0)  # 100/s, paused for a second
    fake.advance(1.0)
    for _ in range(chunk):
        fake.advance(after / chunk)
        lim.on_success(fake.now)
    lim.on_throttled(fake.now, 1.0)


async def test_a_second_costly_429_soon_after_the_pause_paces_by_the_chunk_accepted(
    fake_clock: FakeClock,
) -> None:
    """A window hands out its whole quota after a pause: 100 accepted within 0.2 s of the
    end of a 1 s pause say 100 per second, and the rate goes 3 % under that."""
    lim = limiter(fake_clock, initial_per_second=100.0)
    await _chunk_then_429(lim, fake_clock, 100, 0.2)
    assert lim.rate == pytest.approx(100.0 * 0.97)


async def test_a_small_chunk_after_the_pause_paces_by_the_rate_accepted_overall(
    fake_clock: FakeClock,
) -> None:
    """A bucket that refills faster than the pause gives only a small chunk: under 80 % of
    the rate accepted since demand began (pauses included), that rate is used instead."""
    lim = limiter(fake_clock, initial_per_second=100.0)
    await _chunk_then_429(lim, fake_clock, 20, 0.1)
    overall = 70 / 1.6  # 50 + 20 accepted since demand began, 1.6 s ago
    assert lim.rate == pytest.approx(overall * 0.97)


async def test_a_costly_429_long_after_the_pause_reads_the_bucket_refilled_by_it(
    fake_clock: FakeClock,
) -> None:
    """A 429 more than one pause after the last one ended: the pause had filled the bucket,
    so the 200 accepted in the 2 s since were its burst (a tenth of a second of the rate they
    were sent at, assumed) and its rate. The rate goes 3 % under that, not a cut by cubed
    ``decrease`` that would take many seconds to climb back from."""
    lim = limiter(fake_clock, initial_per_second=100.0, decrease=0.9)
    await _chunk_then_429(lim, fake_clock, 200, 2.0)
    limit = (200 - ASSUMED_BURST * 200 / 2.0) / 2.0
    assert lim.rate == pytest.approx(limit * MARGIN, rel=0.01)


async def test_a_costly_429_with_nobody_held_back_cuts_from_half_the_rate(
    fake_clock: FakeClock,
) -> None:
    """With no caller held back, what was accepted is only what was asked for: it says nothing
    of the limit, and a costly 429 takes half the rate, cubed ``decrease`` under."""
    lim = limiter(fake_clock, initial_per_second=1000.0)
    for _ in range(50):
        fake_clock.advance(0.01)
        lim.on_success(await lim.acquire())
    lim.on_throttled(fake_clock.now, 1.0)
    assert lim.rate == pytest.approx(500.0 * 0.9**3)


async def test_a_cheap_first_429_still_halves(fake_clock: FakeClock) -> None:
    """A 429 that costs a few milliseconds ends slow start at half the rate reached: probing
    down from there is cheap."""
    lim = limiter(fake_clock, initial_per_second=1000.0)
    await _slow_start_accepting(lim, fake_clock, 100.0)
    lim.on_throttled(fake_clock.now, 0.005)
    assert lim.rate == pytest.approx(500.0)


async def test_after_a_cheap_429_the_rate_climbs_back_at_once(fake_clock: FakeClock) -> None:
    """A 5 ms Retry-After costs nothing worth rationing: additive increase resumes."""
    lim = limiter(fake_clock, initial_per_second=200, decrease=0.9)
    lim.on_throttled(await lim.acquire(), None)
    fake_clock.advance(0.5)
    lim.on_throttled(fake_clock.now, 0.005)
    settled = lim.rate
    await _held_back_successes(lim, fake_clock, 50)
    assert lim.rate > settled


# -- rate-limit headers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "1"},
            RateHints(5, 1.0, 200, None),
        ),
        (
            {"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "1000000003"},
            RateHints(5, 3.0, None, None),
        ),
        (
            {"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "1000000003500"},
            RateHints(5, 3.5, None, None),
        ),
        (
            {
                "RateLimit-Limit": "20",
                "RateLimit-Remaining": "4",
                "RateLimit-Reset": "1",
                "RateLimit-Policy": "20;w=0.1",
            },
            RateHints(4, 1.0, 20, 0.1),
        ),
        (
            {"RateLimit": "limit=10, remaining=5, reset=3", "RateLimit-Policy": "10;w=1"},
            RateHints(5, 3.0, 10, 1.0),
        ),
        (
            {
                "RateLimit": '"default";r=5;t=3, "day";r=100;t=3000',
                "RateLimit-Policy": '"default";q=10;w=1, "day";q=1000;w=86400',
            },
            RateHints(5, 3.0, 10, 1.0),
        ),
        ({"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "1"}, None),
        ({"X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "1"}, None),
        ({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "soon"}, None),
        ({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "999999"}, None),
        ({"X-RateLimit-Remaining": "5"}, None),
        ({"Content-Type": "application/json"}, None),
    ],
)
def test_rate_hints_read_both_families_and_refuse_nonsense(
    headers: dict[str, str], expected: RateHints | None
) -> None:
    assert rate_hints(CIMultiDict(headers), now=1_000_000_000.0) == expected


async def test_a_spent_quota_holds_every_call_until_its_reset(fake_clock: FakeClock) -> None:
    """Remaining 0 with the reset 0.4 s away: nobody goes before then, and no 429 is needed."""
    lim = limiter(fake_clock)
    ticket = await lim.acquire()
    lim.on_rate_headers(ticket, RateHints(remaining=0, reset=0.4, limit=10))
    start = fake_clock.now
    assert await lim.acquire() - start == pytest.approx(0.4)


async def test_a_quota_spent_until_a_day_away_holds_at_most_max_cooldown(
    fake_clock: FakeClock,
) -> None:
    """Remaining 0 with the reset 86,000 s away holds every call for ``max_cooldown`` at most,
    as a 429's pause is held, not for a day; a caller with a minute to spare is not refused."""
    lim = limiter(fake_clock, max_cooldown=30)
    ticket = await lim.acquire()
    lim.on_rate_headers(ticket, RateHints(remaining=0, reset=86000.0, limit=10))
    start = fake_clock.now
    assert await lim.acquire_within(60.0) - start == pytest.approx(30.0)


async def test_the_quota_left_is_spread_over_the_time_left(fake_clock: FakeClock) -> None:
    """Ten left for the next two seconds: five a second, less what was sent after that reply."""
    lim = limiter(fake_clock, initial_per_second=1000)
    lim.on_rate_headers(await lim.acquire(), RateHints(remaining=99, reset=2.0, limit=100))
    first_seen = fake_clock.now
    ticket = await lim.acquire()
    later = [await lim.acquire() for _ in range(2)]  # sent after the reply's request
    assert len(later) == 2
    lim.on_rate_headers(ticket, RateHints(remaining=12, reset=2.0, limit=100))
    # The first reply's reset, two seconds after it, is the earlier and so the closer one.
    assert lim.rate == pytest.approx(10 / (2.0 - (fake_clock.now - first_seen)))


async def test_a_reply_from_before_the_reset_says_nothing_of_the_new_quota(
    fake_clock: FakeClock,
) -> None:
    """A late reply from the old window (remaining 0, reset rounded up to 1 s) does not hold
    the new window's calls for another second."""
    lim = limiter(fake_clock)
    old = await lim.acquire()
    lim.on_rate_headers(old, RateHints(remaining=5, reset=0.2, limit=10))
    fake_clock.advance(0.3)  # the reset has passed
    lim.on_rate_headers(old, RateHints(remaining=0, reset=1.0, limit=10))
    start = fake_clock.now
    assert await lim.acquire() == start


async def test_headers_never_raise_the_rate_above_what_429s_showed(
    fake_clock: FakeClock,
) -> None:
    """A generous quota does not lift a rate that 429s brought down."""
    lim = limiter(fake_clock, initial_per_second=100)
    lim.on_throttled(await lim.acquire(), None)
    ticket = await lim.acquire()
    lim.on_rate_headers(ticket, RateHints(remaining=10_000, reset=1.0, limit=10_000))
    assert lim.rate == pytest.approx(50)


# -- whole calls -----------------------------------------------------------------------------


async def test_a_retry_after_past_the_deadline_fails_the_call_and_not_the_next_ones(
    fake_clock: FakeClock,
) -> None:
    """One 429 with Retry-After: 999999: that call fails at once with the service's 429; a later
    call with a short deadline fails fast, not sent, with the pause left as retry_after and no
    HTTP status; one with time to spare waits max_cooldown."""
    async with Emulator() as emulator:
        retry = RetryPolicy(deadline=5, sleep=fake_clock.sleep, clock=fake_clock.clock)
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=retry,
            rate_limit=RateLimit(clock=fake_clock.clock, sleep=fake_clock.sleep, max_cooldown=20),
        )
        async with client:
            await client.get_sessions()
            emulator.fault_plan.add("getSessions", Fault.status(429, retry_after=999999))
            with pytest.raises(RateLimitError) as first:
                await client.get_sessions()
            assert first.value.retry_after == 999999
            with pytest.raises(NotSentError) as second:
                await client.get_sessions()
            assert second.value.retry_after == pytest.approx(20.0)
            assert not hasattr(second.value, "status")
            assert second.value.attempts == 0
            assert str(second.value).count("getSessions") == 1
            assert str(second.value).startswith("getSessions: not sent: the service asked")
            assert emulator.request_count("getSessions") == 2  # the fast failure sent nothing
            start = fake_clock.now
            await client.get_sessions(retry=RetryPolicy(deadline=60, clock=fake_clock.clock))
            assert fake_clock.now - start == pytest.approx(20.0)


@contextlib.asynccontextmanager
async def dribbling_server() -> AsyncIterator[str]:
    """A server whose reply comes one byte every 50 ms, for ever."""

    async def dribble(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        while True:
            await response.write(b" ")
            await asyncio.sleep(0.05)

    app = web.Application()
    app.router.add_post("/chatbot/v1/{endpoint}", dribble)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/chatbot/v1"
    finally:
        await runner.cleanup()


def test_the_deadline_bounds_an_attempt_that_never_ends() -> None:
    """A reply that dribbles on ends at the call's deadline, well before Timeouts.total."""

    async def call(loop: VirtualTimeLoop) -> float:
        async with dribbling_server() as url:
            client = AsyncClient(
                "key",
                widget_uid="widget",
                base_url=url,
                timeout=Timeouts(total=20, read=5),
                retry=RetryPolicy(deadline=0.3, clock=loop.time, sleep=asyncio.sleep),
                rate_limit=RateLimit.unlimited(),
            )
            async with client:
                started = loop.time()
                with pytest.raises(DeliveryUnknownError):
                    await client.send_message("uid", "hello")
                return loop.time() - started

    assert on_virtual_time(call) == pytest.approx(0.3, abs=0.01)


def test_a_call_held_at_the_gate_past_its_deadline_is_not_sent() -> None:
    """With every slot of max_concurrency taken, a call gives up at its deadline: not sent."""

    async def call(loop: VirtualTimeLoop) -> float:
        on_loop: dict[str, Any] = {"clock": loop.time, "sleep": asyncio.sleep}
        async with dribbling_server() as url:
            client = AsyncClient(
                "key",
                widget_uid="widget",
                base_url=url,
                max_concurrency=1,
                retry=RetryPolicy(deadline=0.2, **on_loop),
                rate_limit=RateLimit.unlimited(),
            )
            async with client:
                busy = asyncio.ensure_future(
                    client.get_sessions(retry=RetryPolicy(deadline=1.0, **on_loop))
                )
                await asyncio.sleep(0.05)
                started = loop.time()
                with pytest.raises(NotSentError, match="max_concurrency") as caught:
                    await client.get_sessions()
                waited = loop.time() - started
                assert caught.value.retry_after is None
                busy.cancel()
                await asyncio.gather(busy, return_exceptions=True)
                return waited

    assert on_virtual_time(call) == pytest.approx(0.2, abs=0.01)


# -- closing ---------------------------------------------------------------------------------


def test_aclose_as_a_429_lands_stops_at_once_and_gives_no_more_turns() -> None:
    """aclose() in the same loop turn as a 429 that wakes the limiter: it returns at once, not
    after the 30 s cool-down, and the call still queued gets no turn after the close."""

    async def test(loop: InstantLoop) -> tuple[float, object]:
        lim = local_limiter(loop, per_second=1)
        ticket = await lim.acquire()
        queued = asyncio.ensure_future(lim.acquire())  # its turn is a second away
        await asyncio.sleep(0.1)  # the limiter sleeps until then
        start = loop.time()
        lim.on_throttled(ticket, 30.0)  # wakes the sleeping pump ...
        await lim.aclose()  # ... and this stops it, in the same loop turn
        closed_after = loop.time() - start
        (outcome,) = await asyncio.gather(queued, return_exceptions=True)
        return closed_after, outcome

    closed_after, outcome = run_virtual(test)
    assert closed_after == 0
    assert isinstance(outcome, NotSentError)  # not a ticket: nothing may be sent


async def test_turns_remembered_for_rate_headers_stay_bounded(fake_clock: FakeClock) -> None:
    """After one reply with rate-limit headers, the turns the limiter keeps (to subtract those
    given after each later reply) stay bounded over 50,000 more requests, headers or not."""
    lim = limiter(fake_clock, per_second=1000)
    lim.on_rate_headers(await lim.acquire(), RateHints(remaining=10**6, reset=3600.0))
    for _ in range(50_000):
        lim.on_success(await lim.acquire())
    quota = lim._quota
    assert quota is not None
    assert len(quota.sent) <= 2 * SENT_KEPT


async def test_closing_the_client_fails_calls_waiting_for_a_turn_with_not_sent_error(
    fake_clock: FakeClock,
) -> None:
    """Calls waiting for their turn when the client is closed fail with NotSentError (nothing
    was sent, and their tasks were not cancelled), not CancelledError, which gather, TaskGroup
    and asyncio.timeout would take for a cancellation of their own."""
    async with Emulator() as emulator:
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            rate_limit=RateLimit(per_second=1, clock=fake_clock.clock, sleep=asyncio.sleep),
        )
        uid = (await client.create_session()).session_uid
        waiting = [asyncio.ensure_future(client.send_message(uid, f"m{n}")) for n in range(3)]
        for _ in range(1000):  # a few loop turns: all three queue behind the 1/s turn
            if client.limiter.waiting == 3:
                break
            await asyncio.sleep(0)
        assert client.limiter.waiting == 3
        await client.aclose()
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert [type(outcome) for outcome in outcomes] == [NotSentError] * 3
        assert "closed" in str(outcomes[0])
        assert emulator.request_count("sendMessage") == 0

"""The in-process limiter: GCRA turns, burst, the shared cool-down, AIMD and cancellation."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from _fakes import FakeClock

from yourgpt_async import AsyncClient, ConfigurationError, NotSentError, RateLimit, RetryPolicy
from yourgpt_async.pacing._local import LocalLimiter
from yourgpt_async.testing import Emulator, EmulatorRateLimit


def limiter(fake: FakeClock, **options: object) -> LocalLimiter:
    return LocalLimiter(RateLimit(clock=fake.clock, sleep=fake.sleep, **options))  # type: ignore[arg-type]


async def test_turns_are_spaced_one_interval_apart(fake_clock: FakeClock) -> None:
    """Told 10/s with burst 1, five concurrent callers go 1/9.9 s apart (1 % under the rate)."""
    lim = limiter(fake_clock, per_second=10)
    start = fake_clock.now
    tickets = await asyncio.gather(*(lim.acquire() for _ in range(5)))
    assert [t - start for t in sorted(tickets)] == pytest.approx([n / 9.9 for n in range(5)])
    assert lim.waiting == 0


async def test_a_told_burst_is_used_a_quarter_at_a_time(fake_clock: FakeClock) -> None:
    """Told a burst of 8, two callers go at once and the rest are paced: the other six tokens
    stay in the service's bucket as a margin for jitter."""
    lim = limiter(fake_clock, per_second=10, burst=8)
    start = fake_clock.now
    tickets = await asyncio.gather(*(lim.acquire() for _ in range(5)))
    offsets = sorted(round(t - start, 6) for t in tickets)
    assert offsets[:2] == [0.0, 0.0]
    assert offsets[2] > 0


async def test_a_429_under_a_told_limit_widens_its_margins(
    fake_clock: FakeClock,
) -> None:
    """After a 429 a told limit sends one at a time, even with a burst, 3 % under the rate."""
    lim = limiter(fake_clock, per_second=10, burst=8)
    lim.on_throttled(await lim.acquire(), 1.0)
    lim.on_throttled(await lim.acquire(), 1.0)  # a second one does not lower it further
    tickets = await asyncio.gather(*(lim.acquire() for _ in range(3)))
    gaps = [b - a for a, b in itertools.pairwise(sorted(tickets))]
    assert gaps == pytest.approx([1 / 9.7, 1 / 9.7])
    assert lim.rate == pytest.approx(9.7)


async def test_unlimited_never_waits(fake_clock: FakeClock) -> None:
    """RateLimit.unlimited() hands out turns at once, however many callers come."""
    lim = LocalLimiter(RateLimit(enabled=False, clock=fake_clock.clock, sleep=fake_clock.sleep))
    await asyncio.gather(*(lim.acquire() for _ in range(100)))
    assert fake_clock.sleeps == []


async def test_a_429_pauses_every_caller_until_retry_after(fake_clock: FakeClock) -> None:
    """One 429 with Retry-After 2 s holds all callers until then, then releases them paced."""
    lim = limiter(fake_clock, per_second=100)
    ticket = await lim.acquire()
    lim.on_throttled(ticket, 2.0)
    until = fake_clock.now + 2.0
    tickets = await asyncio.gather(*(lim.acquire() for _ in range(3)))
    assert min(tickets) >= until - 1e-9
    # no thundering herd: after the pause they still go one interval apart (of the rate 3 %
    # under the one told, since the 429 showed 1 % was not margin enough)
    gaps = [b - a for a, b in itertools.pairwise(sorted(tickets))]
    assert gaps == pytest.approx([1 / 97, 1 / 97])


async def test_a_429_also_holds_callers_already_queued(fake_clock: FakeClock) -> None:
    """Callers already waiting for a turn when the 429 lands wait out the cool-down too."""
    lim = limiter(fake_clock, per_second=1)
    first = await lim.acquire()
    waiting = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0)
    lim.on_throttled(first, 5.0)
    granted = await waiting
    assert granted >= first + 5.0 - 1e-9


async def test_adaptive_halves_on_the_first_429_then_decreases_gently(
    fake_clock: FakeClock,
) -> None:
    """Slow start ends halving the rate; a later 429 multiplies it by `decrease`."""
    lim = limiter(fake_clock, initial_per_second=40, decrease=0.9)
    assert lim.rate == 40
    ticket = await lim.acquire()
    lim.on_throttled(ticket, None)
    assert lim.rate == 20
    fake_clock.advance(0.01)
    ticket = await lim.acquire()
    lim.on_throttled(ticket, None)
    assert lim.rate == pytest.approx(18)


async def test_a_429_from_before_the_last_decrease_is_old_news(fake_clock: FakeClock) -> None:
    """A 429 for a request sent before the last decrease does not lower the rate again."""
    lim = limiter(fake_clock, initial_per_second=40)
    old = await lim.acquire()
    fake_clock.advance(0.01)
    newer = await lim.acquire()
    lim.on_throttled(newer, None)
    assert lim.rate == 20
    lim.on_throttled(old, None)
    assert lim.rate == 20
    assert lim.throttled == 2


async def test_decrease_uses_the_rate_the_service_accepted(fake_clock: FakeClock) -> None:
    """After a measurable span, the new rate is `decrease` times what was accepted in it."""
    lim = limiter(fake_clock, initial_per_second=400, decrease=0.5)
    lim.on_throttled(await lim.acquire(), None)  # leave slow start: 200/s
    for _ in range(50):  # 50 accepted over one second: the service's pace is 50/s
        fake_clock.advance(0.02)
        lim.on_success(fake_clock.now)
    lim.on_throttled(fake_clock.now, None)
    assert lim.rate == pytest.approx(25)


async def test_replies_still_on_their_way_do_not_count_against_the_limit(
    fake_clock: FakeClock,
) -> None:
    """The accepted rate is counted up to the latest success reported, not up to the 429."""
    lim = limiter(fake_clock, initial_per_second=400, decrease=0.5)
    lim.on_throttled(await lim.acquire(), None)
    for _ in range(25):  # 50/s over half a second
        fake_clock.advance(0.02)
        lim.on_success(fake_clock.now)
    fake_clock.advance(0.5)  # the replies of the next half second are still in flight
    lim.on_throttled(fake_clock.now, None)
    assert lim.rate == pytest.approx(25)


async def test_the_rate_grows_only_while_callers_wait(fake_clock: FakeClock) -> None:
    """Successes raise the adaptive rate only when the limiter is what holds callers back."""
    lim = limiter(fake_clock, initial_per_second=10)
    ticket = await lim.acquire()
    lim.on_success(ticket)  # nobody waiting: no growth
    assert lim.rate == 10
    waiter = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0)
    lim.on_success(ticket)
    assert lim.rate > 10
    await waiter


async def test_growth_stops_at_the_configured_ceiling(fake_clock: FakeClock) -> None:
    """With per_second and adaptive=True, per_second caps the adaptive rate."""
    lim = limiter(fake_clock, per_second=12, adaptive=True, initial_per_second=10)
    waiter = asyncio.ensure_future(lim.acquire())
    for _ in range(20):
        waiter = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        lim.on_success(0.0)
    assert lim.rate == 12
    await lim.aclose()
    await asyncio.gather(waiter, return_exceptions=True)


async def test_cancelled_waiters_leave_the_queue(fake_clock: FakeClock) -> None:
    """A caller cancelled while queued leaves; the others still get their turns."""
    lim = limiter(fake_clock, per_second=1)
    await lim.acquire()
    doomed = asyncio.ensure_future(lim.acquire())
    kept = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0)
    assert lim.waiting == 2
    doomed.cancel()
    await asyncio.gather(doomed, return_exceptions=True)
    assert lim.waiting == 1
    await kept
    assert lim.waiting == 0


async def test_aclose_stops_the_pump_and_fails_queued_callers(fake_clock: FakeClock) -> None:
    """Closing the limiter leaves no task behind and fails whoever was still queued with
    NotSentError (nothing was sent), without cancelling their tasks."""
    before = set(asyncio.all_tasks())
    never = asyncio.Event()

    async def stuck(_: float) -> None:
        await never.wait()

    lim = LocalLimiter(RateLimit(per_second=1, clock=fake_clock.clock, sleep=stuck))
    await lim.acquire()
    queued = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0)
    await lim.aclose()
    result = await asyncio.gather(queued, return_exceptions=True)
    assert isinstance(result[0], NotSentError)
    assert set(asyncio.all_tasks()) - before == set()


@pytest.mark.parametrize(
    "options",
    [
        {"per_second": 0},
        {"per_second": -1},
        {"burst": 0},
        {"burst": 1.5},
        {"decrease": 1.0},
        {"decrease": 0},
        {"initial_per_second": 0},
        {"increase": -0.1},
    ],
)
def test_bad_rate_limits_are_refused(options: dict[str, object]) -> None:
    """RateLimit names the bad setting and what it expects."""
    with pytest.raises(ConfigurationError) as raised:
        RateLimit(**options)  # type: ignore[arg-type]
    assert next(iter(options)) in str(raised.value)


async def test_a_thousand_sends_under_an_untold_limit_all_arrive_once(
    fake_clock: FakeClock,
) -> None:
    """1,000 concurrent sends against a 50/s limit the client is not told: all land, once."""
    emulator = Emulator(
        rate_limit=EmulatorRateLimit(per_second=50, burst=10), clock=fake_clock.clock
    )
    async with emulator:
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=RetryPolicy(attempts=10, sleep=fake_clock.sleep, clock=fake_clock.clock),
            rate_limit=RateLimit(clock=fake_clock.clock, sleep=fake_clock.sleep),
        )
        async with client:
            uid = (await client.create_session()).session_uid
            replies = await asyncio.gather(
                *(client.send_message(uid, f"message {i}") for i in range(1000))
            )
        assert len(replies) == 1000
        texts = [entry.message for entry in emulator.ledger]
        assert sorted(texts) == sorted(f"message {i}" for i in range(1000))
        throttled = emulator.count_status(429)
        assert throttled == client.limiter.throttled  # type: ignore[attr-defined]
        assert throttled > 0  # the limit was really met, and adapted to
        assert client.limiter.rate < 100  # type: ignore[attr-defined]


async def test_a_lone_sequential_caller_is_not_held_at_the_start_rate(
    fake_clock: FakeClock,
) -> None:
    """One caller sending one request at a time makes the adaptive rate grow past its start."""
    lim = limiter(fake_clock, initial_per_second=20)
    for _ in range(40):  # each waits for its turn, then succeeds 1 ms later
        ticket = await lim.acquire()
        fake_clock.advance(0.001)
        lim.on_success(ticket)
    assert lim.rate > 200


async def test_an_idle_caller_does_not_raise_the_rate(fake_clock: FakeClock) -> None:
    """Requests that never had to wait (well under the rate) leave the adaptive rate alone."""
    lim = limiter(fake_clock, initial_per_second=20)
    for _ in range(10):
        fake_clock.advance(2.0)  # far apart: never held back
        lim.on_success(await lim.acquire())
    assert lim.rate == 20


async def test_adaptive_pacing_lets_callers_that_arrive_together_through(
    fake_clock: FakeClock,
) -> None:
    """Found (not told), a rate tolerates a few ms of arrivals at once; a told rate does not."""
    found = limiter(fake_clock, initial_per_second=1000)
    start = fake_clock.now
    tickets = await asyncio.gather(*(found.acquire() for _ in range(3)))
    assert sorted(round(t - start, 6) for t in tickets) == [0.0, 0.0, 0.0]
    told = limiter(fake_clock, per_second=1000)
    start = fake_clock.now
    tickets = await asyncio.gather(*(told.acquire() for _ in range(3)))
    assert sorted(t - start for t in tickets) == pytest.approx([0.0, 1 / 990, 2 / 990])


@pytest.mark.parametrize(("retry_after", "expected"), [(0.005, 90.0), (1.0, 72.9)])
async def test_a_costly_pause_steps_the_rate_down_further(
    fake_clock: FakeClock, retry_after: float, expected: float
) -> None:
    """A Retry-After worth many requests cuts deeper (0.9^3) than a cheap one (0.9)."""
    lim = limiter(fake_clock, initial_per_second=200, decrease=0.9)
    lim.on_throttled(await lim.acquire(), None)  # leave slow start: 100/s
    fake_clock.advance(0.01)
    lim.on_throttled(fake_clock.now, retry_after)
    assert lim.rate == pytest.approx(expected)


async def test_time_paused_does_not_count_as_time_to_accept(fake_clock: FakeClock) -> None:
    """The accepted rate that sets the next decrease leaves the cool-down out of its span."""
    lim = limiter(fake_clock, initial_per_second=400, decrease=0.5)
    old = await lim.acquire()
    fake_clock.advance(0.001)
    lim.on_throttled(fake_clock.now, None)  # leave slow start: 200/s
    lim.on_throttled(old, 0.5)  # old news for the rate, but a real 0.5 s pause
    assert lim.rate == 200
    fake_clock.advance(0.5)  # the pause
    for _ in range(30):  # then 30 accepted in 0.5 s of sending: 60/s
        fake_clock.advance(0.5 / 30)
        lim.on_success(fake_clock.now)
    lim.on_throttled(fake_clock.now, None)
    assert lim.rate == pytest.approx(0.5 * 60.0)  # not 0.5 * 30/s, as over the whole second

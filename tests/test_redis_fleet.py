"""RedisRateLimit as a fleet, on virtual time against a real redis-server: the shared schedule,
the cool-down, priorities across clients, a rate learnt together, and Redis lost mid-run.

Several clients in one process share one real redis-server, each with its own limiter, exactly
as separate processes would. Their scripts keep time by the test loop's virtual clock and go
through a blocking connection (``_pacing_sim.BlockingRedis``): no virtual time passes during a
round trip, so every figure below is the same on every run, on a quiet machine or a busy one.
Several real processes are ``benchmarks/redis_fleet.py``'s business (``nox -s bench``).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from _pacing_sim import (
    BlockingRedis,
    InstantLoop,
    busiest_second,
    drive,
    fleet_limiter,
    ideal,
    run_virtual,
    server,
)
from redis_fixtures import RedisServer

from yourgpt_async import Priority
from yourgpt_async.pacing._fleet import RedisLimiter
from yourgpt_async.pacing._headers import RateHints
from yourgpt_async.pacing._limiter import NoTurnInTime

pytestmark = pytest.mark.redis

KEY = "yourgpt-async:{fleet}"


class Fleet:
    """Makes the limiters of one test, on one loop, and closes them."""

    def __init__(self, redis_server: RedisServer, loop: InstantLoop) -> None:
        self.server, self.loop = redis_server, loop
        # Each command has 0.2 s (of real time) to answer: a frozen server costs that.
        self.redis = BlockingRedis(redis_server.url, timeout=0.2)
        self.made: list[RedisLimiter] = []

    def limiter(self, **settings: Any) -> RedisLimiter:
        made = fleet_limiter(self.redis, self.server.url, self.loop, **settings)
        self.made.append(made)
        return made

    def state(self) -> dict[str, float]:
        """The shared state in Redis, by field."""
        fields = self.redis.client.hgetall(KEY)
        return {name.decode(): float(value) for name, value in fields.items()}

    async def aclose(self) -> None:
        for limiter in self.made:
            await limiter.aclose()
        self.redis.close()


def on_fleet(
    redis_server: RedisServer, test: Callable[[Fleet, InstantLoop], Awaitable[Any]]
) -> Any:
    """Run ``test(fleet, loop)`` on virtual time, closing every limiter it made."""

    async def go(loop: InstantLoop) -> Any:
        fleet = Fleet(redis_server, loop)
        try:
            return await test(fleet, loop)
        finally:
            await fleet.aclose()

    return run_virtual(go)


@pytest.fixture
def redis_server(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The test's redis-server, thawed if a test froze it."""
    yield redis_server
    redis_server.thaw()


# -- the shared schedule -----------------------------------------------------------------------


def test_a_quarter_of_a_told_burst_goes_at_once_then_one_per_interval(
    redis_server: RedisServer,
) -> None:
    """Told 10/s with a burst of 12, three go at once (the rest is a margin for jitter); each
    later request one interval (1/9.9 s) after the last."""

    async def test(fleet: Fleet, loop: InstantLoop) -> list[float]:
        limiter = fleet.limiter(per_second=10, burst=12)
        start = loop.time()
        return [await limiter.acquire() - start for _ in range(6)]

    times = on_fleet(redis_server, test)
    interval = 1 / 9.9
    assert times == pytest.approx([0, 0, 0, interval, 2 * interval, 3 * interval], abs=1e-6)


def test_clients_naming_the_same_budget_take_turns_and_another_name_is_apart(
    redis_server: RedisServer,
) -> None:
    """Two limiters of one name share one schedule; a third of another name has its own."""

    async def test(fleet: Fleet, loop: InstantLoop) -> list[float]:
        first, second = fleet.limiter(per_second=10), fleet.limiter(per_second=10)
        other = fleet.limiter(per_second=10, name="other")
        start = loop.time()
        return [await limiter.acquire() - start for limiter in (first, second, first, other)]

    interval = 1 / 9.9
    assert on_fleet(redis_server, test) == pytest.approx(
        [0, interval, 2 * interval, 2 * interval], abs=1e-6
    )


def test_a_429_pauses_every_client_and_no_burst_follows(redis_server: RedisServer) -> None:
    """A 429 seen by one client holds another until its Retry-After ends; then one turn, and
    the next an interval later, whatever burst was told."""

    async def test(fleet: Fleet, loop: InstantLoop) -> list[float]:
        seen, other = fleet.limiter(per_second=10, burst=12), fleet.limiter(per_second=10)
        ticket = await seen.acquire()
        start = loop.time()
        seen.on_throttled(ticket, 0.5)
        await asyncio.sleep(0)  # its write to Redis goes out
        return [await other.acquire() - start for _ in range(2)]

    assert on_fleet(redis_server, test) == pytest.approx([0.5, 0.5 + 1 / 9.7], abs=1e-6)


def test_a_429_holds_back_requests_already_scheduled(redis_server: RedisServer) -> None:
    """A request that reserved its slot before another client's 429 still waits out the
    pause: it checks the cool-down again before it goes."""

    async def test(fleet: Fleet, loop: InstantLoop) -> float:
        seen, waiting = fleet.limiter(per_second=5), fleet.limiter(per_second=5)
        ticket = await seen.acquire()
        start = loop.time()
        waiter = asyncio.ensure_future(waiting.acquire())  # its slot is 0.2 s away
        await asyncio.sleep(0.05)
        seen.on_throttled(ticket, 0.5)
        return await waiter - start

    assert on_fleet(redis_server, test) == pytest.approx(0.55, abs=1e-6)


def test_a_429_holds_this_clients_waiters_at_once(redis_server: RedisServer) -> None:
    """The client that saw the 429 holds its own waiters before Redis has heard of it."""

    async def test(fleet: Fleet, loop: InstantLoop) -> float:
        limiter = fleet.limiter(per_second=20)
        ticket = await limiter.acquire()
        start = loop.time()
        waiter = asyncio.ensure_future(limiter.acquire())  # its slot is 0.05 s away
        await asyncio.sleep(0.01)
        limiter.on_throttled(ticket, 0.3)
        return await waiter - start

    assert on_fleet(redis_server, test) >= 0.31 - 1e-6


def test_a_cancelled_waiter_leaves_its_slot_unused(redis_server: RedisServer) -> None:
    """Cancelling a waiting acquire never lets a later one in early: its slot goes unused."""

    async def test(fleet: Fleet, loop: InstantLoop) -> float:
        limiter = fleet.limiter(per_second=20)
        await limiter.acquire()
        start = loop.time()
        cancelled = asyncio.ensure_future(limiter.acquire())  # the slot at 1/19.8 s
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        return await limiter.acquire() - start

    assert on_fleet(redis_server, test) == pytest.approx(2 / 19.8, abs=1e-6)


def test_one_absurd_retry_after_holds_the_fleet_only_max_cooldown(
    redis_server: RedisServer,
) -> None:
    """Retry-After: 999999 under max_cooldown=0.3 pauses every client for 0.3 s, not days;
    meanwhile a call whose deadline ends sooner fails at once, with the wait on it."""

    async def test(fleet: Fleet, loop: InstantLoop) -> tuple[NoTurnInTime, float]:
        seen = fleet.limiter(per_second=100, max_cooldown=0.3)
        other = fleet.limiter(per_second=100, max_cooldown=0.3)
        seen.on_throttled(await seen.acquire(), 999999.0)
        start = loop.time()
        await asyncio.sleep(0)  # the cool-down is written
        with pytest.raises(NoTurnInTime) as late:
            await other.acquire_within(0.1)
        assert loop.time() == start  # failed at once
        return late.value, await other.acquire_within(5.0) - start

    late, waited = on_fleet(redis_server, test)
    assert late.cooldown
    assert late.wait == pytest.approx(0.3, abs=1e-6)
    assert waited == pytest.approx(0.3, abs=1e-6)


def test_a_quota_spent_until_a_day_away_holds_the_fleet_at_most_max_cooldown(
    redis_server: RedisServer,
) -> None:
    """Remaining 0 with the reset 86,000 s away, seen by one client, holds every client for
    ``max_cooldown`` at most, not for a day."""

    async def test(fleet: Fleet, loop: InstantLoop) -> float:
        seen = fleet.limiter(per_second=10, max_cooldown=2)
        other = fleet.limiter(per_second=10, max_cooldown=2)
        ticket = await seen.acquire()
        seen.on_rate_headers(ticket, RateHints(remaining=0, reset=86000.0, limit=10))
        start = loop.time()
        await asyncio.sleep(0.05)  # told to Redis
        return await other.acquire_within(60.0) - start

    # Two seconds from when Redis heard of it: the reply's report goes out 10 ms after it.
    assert on_fleet(redis_server, test) == pytest.approx(2.01, abs=1e-6)


def test_acquire_within_reserves_nothing_it_cannot_use(redis_server: RedisServer) -> None:
    """A slot further away than the caller's time fails at once and is left for the next."""

    async def test(fleet: Fleet, loop: InstantLoop) -> float:
        limiter = fleet.limiter(per_second=10)
        await limiter.acquire()
        start = loop.time()
        with pytest.raises(NoTurnInTime) as late:
            await limiter.acquire_within(0.02)
        assert not late.value.cooldown
        return await limiter.acquire() - start

    assert on_fleet(redis_server, test) == pytest.approx(1 / 9.9, abs=1e-6)


# -- priorities --------------------------------------------------------------------------------


def test_an_interactive_call_overtakes_a_fleets_bulk_queue(redis_server: RedisServer) -> None:
    """Two clients queue 40 bulk calls at 50/s; an interactive call of a third client goes
    within two turns, not behind the 38 bulk calls still waiting."""

    async def test(fleet: Fleet, loop: InstantLoop) -> tuple[int, int]:
        bulk = [fleet.limiter(per_second=50) for _ in range(2)]
        queued = [asyncio.ensure_future(b.acquire(Priority.BULK)) for b in bulk for _ in range(20)]
        await asyncio.sleep(0.05)
        waiting = sum(not task.done() for task in queued)
        await fleet.limiter(per_second=50).acquire(Priority.INTERACTIVE)
        left = sum(not task.done() for task in queued)
        await asyncio.gather(*queued)
        return waiting, waiting - left

    waiting, overtaken_by = on_fleet(redis_server, test)
    assert waiting >= 30  # the bulk queue is long: behind it, the call would wait 30 turns
    assert overtaken_by <= 2


def test_bulk_is_not_starved_by_a_fleets_interactive_calls(redis_server: RedisServer) -> None:
    """While interactive calls keep the schedule full, a bulk call still gets a turn once ten
    turns have passed since the last bulk one, ahead of interactive calls made after it."""

    async def test(fleet: Fleet, loop: InstantLoop) -> list[str]:
        busy, first = fleet.limiter(per_second=40), fleet.limiter(per_second=40)
        await busy.acquire()
        await first.acquire(Priority.BULK)  # the last bulk turn: now
        order: list[str] = []

        async def take(label: str, limiter: RedisLimiter, priority: Priority) -> None:
            await limiter.acquire(priority)
            order.append(label)

        waves = [asyncio.ensure_future(take("i", busy, Priority.INTERACTIVE)) for _ in range(20)]
        await asyncio.sleep(0.001)  # all 20 booked
        waves.append(asyncio.ensure_future(take("b", first, Priority.BULK)))
        await asyncio.sleep(0.01)
        waves += [asyncio.ensure_future(take("i", busy, Priority.INTERACTIVE)) for _ in range(20)]
        await asyncio.gather(*waves)
        return order

    order = on_fleet(redis_server, test)
    assert 10 <= order.index("b") <= 21


# -- a rate learnt together --------------------------------------------------------------------


def test_a_fleet_not_told_the_rate_learns_it_together(redis_server: RedisServer) -> None:
    """Three clients with no per_second against a 300/s bucket (burst 30, millisecond
    Retry-After): slow start ends at the first 429 for all of them, the estimate of the limit
    lands within 10 % of it, and the fleet paces near it (probing may take it a few per cent
    over, which the next 429 corrects), sending it all within 1.10 times the ideal."""

    async def test(fleet: Fleet, loop: InstantLoop) -> Any:
        target = server("bucket, Retry-After ms", 300, 30, loop.time)
        run = await drive([fleet.limiter() for _ in range(3)], target, 3000)
        return run, run.seconds / ideal(3000, target), fleet.state()

    run, ratio, state = on_fleet(redis_server, test)
    assert state["slow_start"] == 0
    assert 0.9 * 300 <= state["estimate"] <= 1.1 * 300
    assert 0.9 * 300 <= state["rate"] <= 1.05 * 300
    assert ratio <= 1.10
    assert run.throttled_share <= 0.05


def test_a_fleet_learns_a_whole_second_bucket_in_one_pause_or_two(
    redis_server: RedisServer,
) -> None:
    """Two clients with no per_second against a 150/s bucket (burst 15) answering 429 with
    ``Retry-After: 1``: the 429 that ends slow start costs one pause, the fleet resumes near
    the limit, so at most one more pause follows, and it paces within 8 % under the limit."""

    async def test(fleet: Fleet, loop: InstantLoop) -> dict[str, float]:
        target = server("bucket, Retry-After whole s", 150, 15, loop.time)
        await drive([fleet.limiter() for _ in range(2)], target, 1200)
        return fleet.state()

    state = on_fleet(redis_server, test)
    assert state["slow_start"] == 0
    # Seconds paused: one or two whole-second pauses (a 429 overlapping one adds a sliver).
    assert 1.0 <= state["paused_total"] <= 2.05
    assert 0.92 * 150 <= state["rate"] <= 150


def test_processes_told_one_rate_share_it_with_no_429(redis_server: RedisServer) -> None:
    """Three clients told 100/s together against a bucket of 100/s with no burst at all: not
    one 429, and no second with more than 100 accepted."""

    async def test(fleet: Fleet, loop: InstantLoop) -> Any:
        target = server("bucket, Retry-After whole s", 100, 1, loop.time)
        accepted: list[float] = []
        clients = [fleet.limiter(per_second=100) for _ in range(3)]
        return await drive(clients, target, 600, accepted=accepted), accepted

    run, accepted = on_fleet(redis_server, test)
    assert run.throttled == 0
    assert busiest_second(accepted) <= 100
    assert run.seconds <= 600 / 99 + 0.1  # a told rate is kept 1 % under, no more


# -- Redis lost mid-run ------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["restart", "freeze"])
def test_an_outage_never_puts_the_fleet_over_its_rate(
    redis_server: RedisServer, outage: str
) -> None:
    """Three clients at 150/s shared (expected_clients=3): Redis killed and restarted, or
    frozen (SIGSTOP) and thawed, 0.5 s into the run, for 0.5 s. Each client keeps to its share
    while Redis is away, then re-joins; every one is shared again at the end, the service
    refuses nothing, and in no second does it see more than the rate and its burst."""

    async def test(fleet: Fleet, loop: InstantLoop) -> Any:
        target = server("bucket, Retry-After whole s", 150, 15, loop.time)
        settings = {"per_second": 150, "expected_clients": 3, "reconnect_interval": 0.25}
        clients = [fleet.limiter(**settings) for _ in range(3)]

        async def break_redis() -> None:
            await asyncio.sleep(0.5)
            redis_server.kill() if outage == "restart" else redis_server.freeze()
            await asyncio.sleep(0.5)
            redis_server.start() if outage == "restart" else redis_server.thaw()

        accepted: list[float] = []
        side = asyncio.ensure_future(break_redis())
        run = await drive(clients, target, 450, accepted=accepted)
        await side
        return run, accepted, [client.shared for client in clients]

    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always", RuntimeWarning)
        run, accepted, shared = on_fleet(redis_server, test)
    assert [str(w.message).count("paces itself alone") for w in warned] == [1] * 3  # fell back
    assert run.throttled == 0
    assert busiest_second(accepted) <= 150 + 15
    assert shared == [True] * 3

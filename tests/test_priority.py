"""Priorities: interactive calls take the next free turn ahead of queued bulk ones; bulk keeps a
tenth of the turns; the priority travels from the call (or view, or send_many) to the limiter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _fakes import FakeClock

from yourgpt_async import AsyncClient, ConfigurationError, Priority, RateLimit
from yourgpt_async.pacing._limiter import Limiter
from yourgpt_async.pacing._local import LocalLimiter
from yourgpt_async.pacing._rules import BULK_SHARE_EVERY
from yourgpt_async.testing import Emulator

INTERACTIVE, BULK = Priority.INTERACTIVE, Priority.BULK


def limiter(fake: FakeClock, **options: object) -> LocalLimiter:
    return LocalLimiter(RateLimit(clock=fake.clock, sleep=fake.sleep, **options))  # type: ignore[arg-type]


async def test_an_interactive_call_goes_ahead_of_queued_bulk_calls(fake_clock: FakeClock) -> None:
    """Forty bulk callers queue at 10/s; an interactive caller arriving later gets the next
    free turn, one interval on, not the forty-first."""
    lim = limiter(fake_clock, per_second=10)
    start = fake_clock.now
    await lim.acquire(BULK)  # the only turn free at once
    bulk = [asyncio.ensure_future(lim.acquire(BULK)) for _ in range(40)]
    await asyncio.sleep(0)
    ticket = await lim.acquire(INTERACTIVE)
    assert ticket - start == pytest.approx(1 / 9.9)
    assert lim.waiting == 40
    await asyncio.gather(*bulk)


async def test_interactive_callers_keep_their_own_order(fake_clock: FakeClock) -> None:
    """Among themselves, interactive callers go first come, first served."""
    lim = limiter(fake_clock, per_second=10)
    await lim.acquire()
    order: list[str] = []

    async def take(label: str, priority: Priority) -> None:
        await lim.acquire(priority)
        order.append(label)

    tasks = [asyncio.ensure_future(take(f"b{n}", BULK)) for n in range(3)]
    tasks += [asyncio.ensure_future(take(f"i{n}", INTERACTIVE)) for n in range(3)]
    await asyncio.gather(*tasks)
    assert order == ["i0", "i1", "i2", "b0", "b1", "b2"]


async def test_bulk_keeps_a_tenth_of_the_turns(fake_clock: FakeClock) -> None:
    """However many interactive callers wait, every tenth turn goes to bulk: no starvation."""
    lim = limiter(fake_clock, per_second=100)
    await lim.acquire()
    order: list[Priority] = []

    async def take(priority: Priority) -> None:
        await lim.acquire(priority)
        order.append(priority)

    tasks = [asyncio.ensure_future(take(BULK)) for _ in range(5)]
    tasks += [asyncio.ensure_future(take(INTERACTIVE)) for _ in range(100)]
    await asyncio.gather(*tasks)
    bulk_turns = [n for n, priority in enumerate(order) if priority is BULK]
    assert bulk_turns == [n * BULK_SHARE_EVERY + BULK_SHARE_EVERY - 1 for n in range(5)]


async def test_a_cancelled_bulk_waiter_leaves_its_queue(fake_clock: FakeClock) -> None:
    """A bulk caller cancelled while queued leaves; the others still get their turns."""
    lim = limiter(fake_clock, per_second=10)
    await lim.acquire()
    first = asyncio.ensure_future(lim.acquire(BULK))
    second = asyncio.ensure_future(lim.acquire(BULK))
    await asyncio.sleep(0)
    first.cancel()
    await second
    assert first.cancelled()
    assert lim.waiting == 0


async def test_a_bulk_deadline_fails_only_that_caller(fake_clock: FakeClock) -> None:
    """acquire_within holds for bulk callers too: one whose time runs out fails alone."""
    from yourgpt_async.pacing._limiter import NoTurnInTime

    lim = limiter(fake_clock, per_second=10)
    await lim.acquire()
    late = asyncio.ensure_future(lim.acquire_within(0.05, BULK))
    patient = asyncio.ensure_future(lim.acquire_within(5.0, BULK))
    with pytest.raises(NoTurnInTime):
        await late
    assert await patient > 0


class Recording(Limiter):
    """A limiter that lets everything go and notes each call's priority."""

    def __init__(self) -> None:
        self.seen: list[Priority] = []

    async def acquire(self, priority: Priority = INTERACTIVE) -> float:
        self.seen.append(priority)
        return 0.0

    def on_success(self, ticket: float) -> None: ...

    def on_throttled(self, ticket: float, retry_after: float | None) -> None: ...


async def test_priority_reaches_the_limiter_from_call_view_and_send_many(
    emulator: Emulator,
) -> None:
    """Direct calls are interactive; priority= on a call, with_options(priority=) and
    send_many (bulk unless told) set it."""
    recording = Recording()
    async with AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=emulator.base_url,
        rate_limit=RateLimit.unlimited(),
    ) as client:
        client._transport.limiter = recording
        session = await client.create_session()
        uid = session.session_uid
        await client.send_message(uid, "direct")
        await client.send_message(uid, "told", priority="bulk")
        await client.with_options(priority=BULK).get_sessions()
        await client.with_options(priority="bulk").send_message(uid, "x", priority="interactive")
        async with client.send_many([(uid, "a")]) as run:
            [outcome async for outcome in run]
        async with client.send_many([(uid, "b")], priority="interactive") as run:
            [outcome async for outcome in run]
    assert recording.seen == [INTERACTIVE, INTERACTIVE, BULK, BULK, INTERACTIVE, BULK, INTERACTIVE]


async def test_a_bad_priority_is_refused_before_any_io(emulator: Emulator) -> None:
    """An unknown priority is a ConfigurationError naming the allowed values."""
    async with AsyncClient(
        emulator.api_key, widget_uid=emulator.widget_uid, base_url=emulator.base_url
    ) as client:
        with pytest.raises(ConfigurationError, match="'interactive', 'bulk'"):
            client.with_options(priority="urgent")
        with pytest.raises(ConfigurationError, match="priority"):
            await client.get_sessions(priority="high")
        with pytest.raises(ConfigurationError, match="priority"):
            client.send_many([], priority="low")


class HeldBulk(Recording):
    """Holds every bulk caller until released; interactive callers go at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.seven_held = asyncio.Event()
        self.held = 0

    async def acquire(self, priority: Priority = INTERACTIVE) -> float:
        if priority is BULK:
            self.held += 1
            if self.held >= 7:
                self.seven_held.set()
            await self.release.wait()
        return await super().acquire(priority)


async def test_bulk_calls_leave_part_of_the_gate_to_interactive_ones(emulator: Emulator) -> None:
    """A bulk run waiting for its turns holds at most seven of eight concurrency slots: an
    interactive call still gets one, instead of waiting for a bulk request to finish."""
    held = HeldBulk()
    async with AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=emulator.base_url,
        max_concurrency=8,
        rate_limit=RateLimit.unlimited(),
    ) as client:
        uid = (await client.create_session()).session_uid
        client._transport.limiter = held
        async with client.send_many([(uid, f"b{n}") for n in range(20)]) as run:
            outcomes = asyncio.ensure_future(_collect(run))
            await held.seven_held.wait()
            await asyncio.sleep(0.01)  # an eighth bulk caller, if it could, would be in by now
            # Would hang (every slot held by bulk) without the reserve; the guard only ends it.
            reply = await asyncio.wait_for(client.send_message(uid, "live"), 10)
            assert reply.message
            assert held.held == 7
            held.release.set()
            assert [o.status for o in await outcomes] == ["sent"] * 20


async def _collect(run: object) -> list[Any]:
    return [outcome async for outcome in run]  # type: ignore[attr-defined]

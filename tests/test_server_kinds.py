"""Every kind of server the client may meet: the emulator in each mode, a gateway written here,
and a property run over random kinds and limits on a virtual clock."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from _fakes import FakeClock, VirtualTimeLoop, on_virtual_time
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yourgpt_async import AsyncClient, RateLimit, RetryPolicy, YourGPTError
from yourgpt_async.testing import Emulator, EmulatorRateLimit
from yourgpt_async.testing._cli import _rate_limit, add_options

# -- what the emulator sends -----------------------------------------------------------------


async def _post(http: aiohttp.ClientSession, emu: Emulator) -> aiohttp.ClientResponse:
    response = await http.post(
        f"{emu.base_url}/getSessions", json={}, headers={"api-key": emu.api_key}
    )
    await response.read()
    return response


async def test_fixed_windows_refill_all_at_once_at_the_window_edge() -> None:
    """Four a second: the fifth waits for the next whole second, then four more go."""
    clock = FakeClock(start=1000.25)
    limit = EmulatorRateLimit(4, kind="fixed_window", headers="x-ratelimit")
    async with (
        Emulator(rate_limit=limit, clock=clock.clock) as emu,
        aiohttp.ClientSession() as http,
    ):
        statuses = [(await _post(http, emu)).status for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        refused = await _post(http, emu)
        assert refused.headers["Retry-After"] == "1"  # 0.75 s, in whole seconds
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        clock.now = 1001.0
        fresh = await _post(http, emu)
        assert fresh.status == 200
        assert fresh.headers["X-RateLimit-Remaining"] == "3"
        assert fresh.headers["X-RateLimit-Limit"] == "4"


async def test_a_sliding_window_counts_the_last_window_whatever_the_edges() -> None:
    """Two a second, at any moment: the third waits until the first is a second old."""
    clock = FakeClock(start=1000.0)
    limit = EmulatorRateLimit(2, kind="sliding_window", retry_after="ms")
    async with (
        Emulator(rate_limit=limit, clock=clock.clock) as emu,
        aiohttp.ClientSession() as http,
    ):
        assert (await _post(http, emu)).status == 200
        clock.now = 1000.6
        assert (await _post(http, emu)).status == 200
        clock.now = 1000.9
        refused = await _post(http, emu)
        assert refused.status == 429
        assert refused.headers["retry-after-ms"] == "100"
        clock.now = 1001.0
        assert (await _post(http, emu)).status == 200


@pytest.mark.parametrize("style", ["seconds", "ms", "none", "date"])
async def test_each_429_style(style: str) -> None:
    """Whole seconds, milliseconds too, a bare HTML page, or an HTTP date."""
    limit = EmulatorRateLimit(1, 1, retry_after=style)
    async with Emulator(rate_limit=limit) as emu, aiohttp.ClientSession() as http:
        await _post(http, emu)
        before = time.time()
        refused = await _post(http, emu)
        after = time.time()
        assert refused.status == 429
        body = await refused.text()
        if style == "none":
            assert "Retry-After" not in refused.headers
            assert refused.content_type == "text/html"
            assert "<html>" in body
            return
        assert '"RXERROR"' in body
        if style == "date":
            when = email.utils.parsedate_to_datetime(refused.headers["Retry-After"])
            # The first whole second at or after the wait's end (at most a second from the reply).
            assert before < when.timestamp() <= after + 2
        else:
            assert refused.headers["Retry-After"] == "1"
        assert ("retry-after-ms" in refused.headers) is (style == "ms")


@pytest.mark.parametrize(
    ("style", "names"),
    [
        ("x-ratelimit", {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}),
        ("x-ratelimit-epoch", {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}),
        (
            "ratelimit",
            {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"},
        ),
        ("ratelimit-policy", {"RateLimit", "RateLimit-Policy"}),
    ],
)
async def test_each_header_family_is_on_every_answer(style: str, names: set[str]) -> None:
    """The headers come with successes and 429s alike, and read back as what was sent."""
    from yourgpt_async.pacing._headers import rate_hints

    limit = EmulatorRateLimit(10, 2, headers=style)
    async with Emulator(rate_limit=limit) as emu, aiohttp.ClientSession() as http:
        replies = [await _post(http, emu) for _ in range(3)]
    assert [r.status for r in replies] == [200, 200, 429]
    for reply in replies:
        assert names <= set(reply.headers)
    hints = [rate_hints(r.headers) for r in replies]
    assert [h.remaining for h in hints if h is not None] == [1, 0, 0]
    # A reset is rounded up to a whole second (or the whole second of a Unix time).
    assert all(h is not None and h.limit == 2 and 0 <= h.reset <= 2 for h in hints)


def test_the_command_line_sets_every_option() -> None:
    parser = argparse.ArgumentParser()
    add_options(parser)
    options = ["--rate-limit", "200", "--rate-limit-kind", "fixed_window", "--rate-window", "2"]
    args = parser.parse_args([*options, "--retry-after", "none", "--rate-headers", "ratelimit"])
    assert _rate_limit(args, parser) == EmulatorRateLimit(
        200, 200, kind="fixed_window", window=2.0, retry_after="none", headers="ratelimit"
    )
    assert _rate_limit(parser.parse_args([]), parser) is None
    with pytest.raises(SystemExit):
        _rate_limit(parser.parse_args(["--rate-window", "0"]), parser)


# -- the client against each kind --------------------------------------------------------------

KINDS: list[dict[str, Any]] = [
    {},
    {"retry_after": "ms"},
    {"retry_after": "none"},
    {"retry_after": "date"},
    {"kind": "fixed_window"},
    {"kind": "sliding_window"},
    {"kind": "fixed_window", "headers": "x-ratelimit"},
    {"kind": "fixed_window", "headers": "x-ratelimit-epoch"},
    {"headers": "ratelimit"},
    {"headers": "ratelimit-policy"},
]


@pytest.mark.parametrize("told", [False, True], ids=["not-told", "told"])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: "-".join(k.values()) or "bucket")
def test_every_send_lands_once_whatever_the_server(kind: dict[str, Any], told: bool) -> None:
    """80 sends at once against 40/s, on a virtual clock: all delivered, each once; told the
    limit, or paced by headers, with at most one pause."""
    paused = on_virtual_time(
        lambda loop: _send_many(loop, EmulatorRateLimit(40, 8, **kind), told=told)
    )
    if told or "headers" in kind:
        assert paused <= 1.0


async def _send_many(
    loop: VirtualTimeLoop,
    limit: EmulatorRateLimit,
    *,
    told: bool,
    count: int = 80,
    rates: list[float] | None = None,
    latency: float = 0.0,
) -> float:
    """Send ``count`` at once through one client; return the seconds it paused. The rate it
    ended at goes into ``rates``, if given; the emulator takes ``latency`` seconds to answer
    a message it accepts (a 429 comes at once)."""
    rates = [] if rates is None else rates
    on_loop: dict[str, Any] = {"clock": loop.time, "sleep": asyncio.sleep}
    windowed = limit.kind != "token_bucket"
    if told:
        burst = None if windowed else limit.burst
        paced = RateLimit(per_second=limit.per_second, burst=burst, **on_loop)
    else:
        paced = RateLimit(**on_loop)
    async with Emulator(rate_limit=limit, clock=loop.time, ai_latency=latency) as emulator:
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=RetryPolicy(attempts=10, **on_loop),
            rate_limit=paced,
        )
        async with client:
            uid = (await client.create_session()).session_uid
            await asyncio.sleep(2.0)
            emulator.reset()
            await asyncio.gather(*(client.send_message(uid, f"m{n}") for n in range(count)))
        delivered = Counter(entry.message for entry in emulator.ledger)
        assert sorted(delivered) == sorted(f"m{n}" for n in range(count))
        assert set(delivered.values()) == {1}
        paused: float = client.limiter.paused_seconds  # type: ignore[attr-defined]
        rates.append(client.limiter.rate)  # type: ignore[attr-defined]
        return paused


@pytest.mark.parametrize(
    ("per_second", "burst", "pauses"),
    [(200, 20, 1), (200, 50, 2), (200, 100, 2), (100, 30, 2), (40, 8, 2)],
)
def test_a_whole_second_bucket_is_paced_near_its_rate(
    per_second: int, burst: int, pauses: int
) -> None:
    """Not told the limit, replies taking 10 ms (so that the 429 overtakes replies to
    requests sent before it). A burst of a tenth of a second of the rate costs only the
    first 429, which no client not told the rate can avoid; a bigger one two: the second
    fits a bucket to both 429s, and keeps 3 % under it. Either way the client then paces
    within 8 % under the bucket's rate, never over it."""
    rate, paused = _rate_after(per_second, burst)
    assert paused == pauses
    assert 0.92 * per_second <= rate <= per_second


def test_a_fit_resting_on_a_few_requests_may_miss_by_more() -> None:
    """40/s with a burst of half a second: the refill after the pause lasts barely longer
    than slow start's drain, so the fit rests on three requests. It stays within 5 % over,
    where a later 429 corrects it."""
    rate, paused = _rate_after(40, 20)
    assert paused <= 2.0
    assert 0.92 * 40 <= rate <= 1.05 * 40


def _rate_after(per_second: int, burst: int) -> tuple[float, float]:
    """Two seconds' worth of sends at once: the rate the client ended at, and its
    pauses."""
    rates: list[float] = []
    paused = on_virtual_time(
        lambda loop: _send_many(
            loop,
            EmulatorRateLimit(per_second, burst),
            told=False,
            count=per_second * 2,
            rates=rates,
            latency=0.01,
        )
    )
    return rates[0], paused


@contextlib.asynccontextmanager
async def gateway(loop: VirtualTimeLoop) -> AsyncIterator[tuple[str, Counter[str]]]:
    """A gateway that is not the emulator: 30 requests per whole second of the loop's clock,
    a bare 429 page beyond it (no Retry-After), and how many are left, with the reset in whole
    seconds, on every answer."""
    seen: Counter[str] = Counter()
    counts: Counter[int] = Counter()

    async def handle(request: web.Request) -> web.Response:
        now = loop.time()
        second = math.floor(now)
        counts[second] += 1
        headers = {
            "X-RateLimit-Limit": "30",
            "X-RateLimit-Remaining": str(max(0, 30 - counts[second])),
            "X-RateLimit-Reset": str(math.ceil(second + 1 - now)),
        }
        if counts[second] > 30:
            return web.Response(
                status=429, text="<html>slow down</html>", content_type="text/html", headers=headers
            )
        body = await request.json()
        seen[body["message"]] += 1
        reply = {"type": "RXSUCCESS", "data": {"message": body["message"], "send_by": "user"}}
        return web.json_response(reply, headers=headers)

    app = web.Application()
    app.router.add_post("/v1/{endpoint}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v1", seen
    finally:
        await runner.cleanup()


def test_a_gateway_that_is_not_ours_is_paced_by_its_headers() -> None:
    """45 sends through 30-a-second windows, on a virtual clock: about a second and a half,
    every message once, no more than one 429 (before the first answer told the quota)."""

    async def send(loop: VirtualTimeLoop) -> tuple[float, int, Counter[str]]:
        on_loop: dict[str, Any] = {"clock": loop.time, "sleep": asyncio.sleep}
        async with gateway(loop) as (base_url, seen):
            client = AsyncClient(
                "key",
                widget_uid="widget",
                base_url=base_url,
                rate_limit=RateLimit(**on_loop),
                retry=RetryPolicy(**on_loop),
            )
            async with client:
                started = loop.time()
                await asyncio.gather(*(client.send_message("uid", f"m{n}") for n in range(45)))
                elapsed = loop.time() - started
            return elapsed, client.limiter.throttled, seen  # type: ignore[attr-defined]

    elapsed, throttled, seen = on_virtual_time(send)
    assert sorted(seen) == sorted(f"m{n}" for n in range(45))
    assert set(seen.values()) == {1}
    assert throttled <= 1
    assert elapsed < 3.0


# -- the property ------------------------------------------------------------------------------


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(KINDS),
            "per_second": st.sampled_from([5.0, 20.0, 80.0]),
            "burst": st.integers(min_value=1, max_value=10),
            "told": st.booleans(),
            "calls": st.integers(min_value=1, max_value=40),
            "deadlines": st.lists(st.floats(min_value=0.05, max_value=8.0), min_size=1, max_size=5),
        }
    )
)
def test_no_call_outlives_its_deadline_and_nothing_lands_twice(scenario: dict[str, Any]) -> None:
    """For random kinds of server and limits, on a virtual clock: every call ends by its
    deadline (give or take a scheduling tick), and no message is delivered twice."""
    on_virtual_time(lambda loop: _one_run(loop, **scenario))


async def _one_run(
    loop: VirtualTimeLoop,
    *,
    kind: dict[str, Any],
    per_second: float,
    burst: int,
    told: bool,
    calls: int,
    deadlines: list[float],
) -> None:
    limit = EmulatorRateLimit(per_second, burst, **kind)
    on_loop: dict[str, Any] = {"clock": loop.time, "sleep": asyncio.sleep}
    paced = (
        RateLimit(per_second=per_second, burst=burst, **on_loop) if told else RateLimit(**on_loop)
    )
    async with Emulator(rate_limit=limit, clock=loop.time) as emulator:
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            rate_limit=paced,
            retry=RetryPolicy(retry_unsafe=False, **on_loop),
        )
        async with client:
            uid = (await client.create_session()).session_uid

            async def send(number: int) -> float:
                deadline = deadlines[number % len(deadlines)]
                started = loop.time()
                # Out of time, or delivery unknown: either way not delivered twice.
                with contextlib.suppress(YourGPTError):
                    await client.send_message(
                        uid, f"m{number}", retry=RetryPolicy(deadline=deadline, **on_loop)
                    )
                return loop.time() - started - deadline

            overruns = await asyncio.gather(*(send(n) for n in range(calls)))
        assert max(overruns) <= 0.01
        delivered = Counter(entry.message for entry in emulator.ledger)
        assert not delivered or max(delivered.values()) == 1

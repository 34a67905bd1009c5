"""RedisRateLimit through redis-py's own connections to a real redis-server: its settings,
Redis unreachable, killed, hung and back, and clients in several processes.

These run in real time and assert only what cannot depend on it (what was delivered, what
failed, what Redis holds); the schedule's timing is tested on virtual time in
``test_redis_fleet.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis_fixtures import RedisServer, free_port, require_redis_server

from yourgpt_async import (
    AsyncClient,
    ConfigurationError,
    NotSentError,
    RateLimiterUnavailableError,
    RedisRateLimit,
    RetryPolicy,
)
from yourgpt_async.pacing._fleet import RedisLimiter
from yourgpt_async.testing import Emulator, EmulatorRateLimit, EmulatorThread

WORKER = Path(__file__).with_name("redis_fixtures.py")
KEY = "yourgpt-async:{test}"  # the shared state of the budget the tests name "test"


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain redis client on the test's server, for looking at the limiter's keys."""
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def make(made: list[RedisLimiter], url: str, **settings: Any) -> RedisLimiter:
    """Make a limiter (name "test", 10/s unless overridden) that the fixture will close."""
    limiter = RedisRateLimit(url, **{"name": "test", "per_second": 10, **settings}).make_limiter()
    made.append(limiter)
    return limiter


def unreachable_url(password: str = "") -> str:
    """The URL of a loopback port nothing listens on (connections are refused at once)."""
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


async def send_all(client: AsyncClient, count: int, tag: str) -> list[BaseException | None]:
    """Send `<tag>-<i>` for i < count concurrently; return each call's error or None."""
    session = await client.create_session()

    async def send(index: int) -> BaseException | None:
        try:
            await client.send_message(session.session_uid, f"{tag}-{index}")
        except RateLimiterUnavailableError as error:
            return error
        return None

    return await asyncio.gather(*(send(i) for i in range(count)))


async def send_all_killing(
    client: AsyncClient, emulator: Emulator, server: RedisServer
) -> list[BaseException | None]:
    """Send `m-0` to `m-99` (a second at 100/s), killing the redis-server once ten are in."""

    async def kill() -> None:
        while len(emulator.ledger) < 10:  # noqa: ASYNC110 - polls the emulator's ledger
            await asyncio.sleep(0.001)
        await asyncio.to_thread(server.kill)

    killer = asyncio.create_task(kill())
    errors = await asyncio.wait_for(send_all(client, 100, "m"), timeout=60)
    await killer
    return errors


# -- configuration -------------------------------------------------------------------------


def test_repr_hides_the_password() -> None:
    """The Redis password appears in no repr, of the settings or of the limiter."""
    limit = RedisRateLimit("redis://user:hunter2@cache:6379/0", name="p", per_second=5)
    assert "hunter2" not in repr(limit)
    assert "redis://user:***@cache:6379/0" in repr(limit)
    assert "hunter2" not in repr(limit.make_limiter())


@pytest.mark.parametrize("password", ["hunt#er2sec", "hunt?er2sec", "hunt/er2sec", "hu#nt/er?2"])
def test_a_password_with_an_unencoded_reserved_character_is_never_shown(password: str) -> None:
    """A password holding a '#', '?' or '/' that is not percent-encoded cuts the URL where
    redis-py would cut it: the setting is refused, and no piece of the password is in the
    error, nor in a repr."""
    with pytest.raises(ConfigurationError, match="percent-encoded") as refused:
        RedisRateLimit(f"redis://user:{password}@cache:6379/0", name="p", per_second=5)
    text = f"{refused.value} {refused.value!r}"
    for piece in ("hunt", "er2", "sec"):
        assert piece not in text
    assert "redis://user:***@cache:6379/0" in text


@pytest.mark.parametrize(
    ("url", "settings"),
    [
        ("http://cache:6379", {}),
        ("", {}),
        ("redis://cache:port/0", {}),
        ("redis://cache", {"name": ""}),
        ("redis://cache", {"per_second": 0}),
        ("redis://cache", {"burst": 0}),
        ("redis://cache", {"burst": 2.5}),
        ("redis://cache", {"on_redis_error": "ignore"}),
        ("redis://cache", {"expected_clients": 0}),
        ("redis://cache", {"timeout": -1}),
        ("redis://cache", {"reconnect_interval": 0}),
    ],
)
def test_rejects_invalid_settings(url: str, settings: dict[str, Any]) -> None:
    """Bad settings raise ConfigurationError when the RedisRateLimit is made."""
    with pytest.raises(ConfigurationError):
        RedisRateLimit(url, **{"name": "p", "per_second": 5, **settings})


def test_fallback_is_this_clients_share_adapting_to_429s() -> None:
    """While Redis is down each client paces itself at per_second / expected_clients, adaptively."""
    fallback = RedisRateLimit("redis://cache", name="p", per_second=30, burst=6, expected_clients=3)
    assert (fallback.fallback.per_second, fallback.fallback.burst) == (10, 2)
    assert fallback.fallback.is_adaptive


def test_missing_redis_extra_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the redis package, making a client with RedisRateLimit says which extra to add."""
    monkeypatch.setitem(sys.modules, "redis", None)
    limit = RedisRateLimit("redis://cache", name="p", per_second=5)
    with pytest.raises(ConfigurationError, match=r"yourgpt-async\[redis\]"):
        AsyncClient("key", base_url="http://127.0.0.1:1", rate_limit=limit)


def test_importing_the_package_does_not_import_redis() -> None:
    """`import yourgpt_async` works without redis: it is imported only when a limiter is made."""
    code = "import sys, yourgpt_async; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_binary_skips_locally_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without redis-server the Redis tests skip, except under CI=true where they fail."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_redis_server()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        require_redis_server()


# -- Redis unreachable from the start --------------------------------------------------------


async def test_unreachable_redis_in_fail_mode_raises_before_sending() -> None:
    """With on_redis_error="fail" a dead Redis raises RateLimiterUnavailableError, unsent."""
    limit = RedisRateLimit(unreachable_url(), name="p", per_second=5, on_redis_error="fail")
    async with Emulator() as emu:
        client = AsyncClient(
            emu.api_key, widget_uid=emu.widget_uid, base_url=emu.base_url, rate_limit=limit
        )
        async with client:
            with pytest.raises(RateLimiterUnavailableError, match="nothing was sent"):
                await client.create_session()
        assert emu.request_count() == 0


async def test_unreachable_redis_in_local_mode_warns_once_and_keeps_sending() -> None:
    """By default a dead Redis is one RuntimeWarning (no password in it); calls still go out."""
    limit = RedisRateLimit(unreachable_url("hunter2"), name="p", per_second=50)
    async with (
        Emulator() as emu,
        AsyncClient(
            emu.api_key, widget_uid=emu.widget_uid, base_url=emu.base_url, rate_limit=limit
        ) as client,
    ):
        with pytest.warns(RuntimeWarning, match="paces itself alone") as warned:
            errors = await send_all(client, 3, "hi")
        assert len(warned) == 1
        assert "hunter2" not in str(warned[0].message)
        assert errors == [None] * 3
        assert emu.request_count("sendMessage") == 3
        assert isinstance(client.limiter, RedisLimiter)
        assert not client.limiter.shared


@contextlib.asynccontextmanager
async def not_redis(reply: bytes) -> AsyncIterator[str]:
    """A server on a loopback port that answers every line it reads with ``reply``, whatever
    was asked (a cache, a proxy or another service where Redis was expected); its URL."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                writer.write(reply)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("reply", [b"+OK\r\n", b":1\r\n", b"*1\r\n$2\r\nhi\r\n"])
async def test_a_server_that_is_not_redis_on_its_port_means_local_pacing(reply: bytes) -> None:
    """Something else answering on the Redis port (+OK, a number, a list of one string, to
    every command) is Redis unreachable: one warning, the client paces itself, calls go out."""
    async with (
        not_redis(reply) as url,
        Emulator() as emu,
        AsyncClient(
            emu.api_key,
            widget_uid=emu.widget_uid,
            base_url=emu.base_url,
            rate_limit=RedisRateLimit(url, name="p", per_second=50),
        ) as client,
    ):
        with pytest.warns(RuntimeWarning, match="paces itself alone"):
            errors = await send_all(client, 3, "hi")
        assert errors == [None] * 3
        assert emu.request_count("sendMessage") == 3
        assert not client.limiter.shared  # type: ignore[attr-defined]


# -- what Redis holds ------------------------------------------------------------------------


async def test_a_429_is_shared_through_redis_with_its_pause(
    redis_server: RedisServer, redis_client: Redis, limiters: list[RedisLimiter]
) -> None:
    """A 429 seen by one client is written to the shared state (the cool-down's end) for
    every other client, and lowers nothing of a told rate but its margins."""
    limiter = make(limiters, redis_server.url)
    limiter.on_throttled(await limiter.acquire(), 5.0)
    await limiter.aclose()  # finishes writing it
    state = await redis_client.hgetall(KEY)
    assert float(state[b"cooldown_until"]) > float(state[b"next"]) - 5.5
    assert state[b"told_throttled"] == b"1"


async def test_keys_expire_when_the_budget_is_idle(
    redis_server: RedisServer, redis_client: Redis, limiters: list[RedisLimiter]
) -> None:
    """The shared state expires after a minute idle, so idle budgets leave nothing behind; a
    longer max_cooldown keeps it as long as a cool-down may last."""
    limiter = make(limiters, redis_server.url)
    limiter.on_throttled(await limiter.acquire(), 0.5)
    await limiter.aclose()  # finishes writing the cool-down
    # Set a minute ahead; read back at most a few seconds later, however busy the machine.
    assert 50_000 < await redis_client.pttl(KEY) <= 60_000
    assert set(await redis_client.keys("*")) <= {KEY.encode(), f"{KEY}:log".encode()}
    longer = make(limiters, redis_server.url, name="long", max_cooldown=600)
    await longer.acquire()
    assert 590_000 < await redis_client.pttl("yourgpt-async:{long}") <= 601_000


async def test_aclose_finishes_sharing_a_cooldown_and_ends_its_tasks(
    redis_server: RedisServer, redis_client: Redis, limiters: list[RedisLimiter]
) -> None:
    """A 429 reported just before aclose() still reaches Redis, and no task outlives aclose()."""
    limiter = make(limiters, redis_server.url)
    limiter.on_throttled(await limiter.acquire(), 5)
    await limiter.aclose()
    assert await redis_client.hexists(KEY, "cooldown_until")
    assert not limiter._tasks
    with pytest.raises(NotSentError, match="closed"):
        await limiter.acquire()


# -- Redis lost mid-run ----------------------------------------------------------------------


async def test_redis_killed_mid_run_falls_back_and_delivers_everything(
    redis_server: RedisServer,
) -> None:
    """Redis killed mid-run: one warning, the client paces itself, every message goes out once."""
    limit = RedisRateLimit(redis_server.url, name="run", per_second=100)
    async with (
        Emulator(rate_limit=EmulatorRateLimit(100, 5)) as emu,
        AsyncClient(
            emu.api_key,
            widget_uid=emu.widget_uid,
            base_url=emu.base_url,
            rate_limit=limit,
            retry=RetryPolicy(attempts=20),  # pacing is not what this test is about
        ) as client,
    ):
        with pytest.warns(RuntimeWarning, match="unreachable"):
            errors = await send_all_killing(client, emu, redis_server)
        assert errors == [None] * 100
        assert sorted(entry.message for entry in emu.ledger) == sorted(f"m-{i}" for i in range(100))
        assert isinstance(client.limiter, RedisLimiter)
        assert not client.limiter.shared


async def test_redis_killed_mid_run_in_fail_mode_loses_nothing(redis_server: RedisServer) -> None:
    """In fail mode calls after the kill raise at once; each message is sent once or not at all."""
    limit = RedisRateLimit(redis_server.url, name="run", per_second=100, on_redis_error="fail")
    async with (
        Emulator() as emu,
        AsyncClient(
            emu.api_key, widget_uid=emu.widget_uid, base_url=emu.base_url, rate_limit=limit
        ) as client,
    ):
        errors = await send_all_killing(client, emu, redis_server)
        sent = sorted(f"m-{i}" for i, error in enumerate(errors) if error is None)
        assert 10 <= len(sent) < 100
        assert sorted(entry.message for entry in emu.ledger) == sent


async def test_a_hung_redis_costs_a_timeout_then_falls_back(
    redis_server: RedisServer, limiters: list[RedisLimiter]
) -> None:
    """A Redis that accepts but never answers holds requests for about `timeout`, not for
    ever: each call falls back and gets its turn."""
    limiter = make(limiters, redis_server.url, per_second=1000, timeout=0.2)
    await limiter.acquire()
    redis_server.freeze()
    try:
        with pytest.warns(RuntimeWarning, match="unreachable"):
            await asyncio.wait_for(asyncio.gather(*(limiter.acquire() for _ in range(20))), 60)
    finally:
        redis_server.thaw()
    assert not limiter.shared


async def test_returns_to_redis_once_it_is_back(
    redis_server: RedisServer, redis_client: Redis, limiters: list[RedisLimiter]
) -> None:
    """While falling back the limiter retries Redis every reconnect_interval and then uses it."""
    limiter = make(limiters, redis_server.url, per_second=100, reconnect_interval=0.1)
    await limiter.acquire()
    redis_server.kill()
    with pytest.warns(RuntimeWarning, match="unreachable"):
        await limiter.acquire()
    assert not limiter.shared
    redis_server.start()

    async def until_shared() -> None:
        while not limiter.shared:
            await limiter.acquire()

    await asyncio.wait_for(until_shared(), 60)
    await limiter.acquire()
    assert await redis_client.hexists(KEY, "next")


# -- several processes -----------------------------------------------------------------------


def run_fleet(
    emulator: EmulatorThread,
    redis_url: str,
    *,
    processes: int,
    count: int,
    per_second: float,
    **settings: Any,
) -> list[tuple[dict[str, Any], str]]:
    """Run worker processes that each send `count` messages; return each summary and stderr.

    The workers start sending together, a second after launch.
    """
    start_at = time.time() + 1.0
    workers = []
    for number in range(processes):
        worker_settings = {
            "redis_url": redis_url,
            "name": "fleet",
            "per_second": per_second,
            "base_url": emulator.base_url,
            "api_key": emulator.api_key,
            "widget_uid": emulator.widget_uid,
            "count": count,
            "tag": f"w{number}",
            "start_at": start_at,
            **settings,
        }
        workers.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), json.dumps(worker_settings)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "default"},
            )
        )
    try:
        results = []
        for worker in workers:
            stdout, stderr = worker.communicate(timeout=30)
            assert worker.returncode == 0, stderr
            results.append((json.loads(stdout), stderr))
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def test_processes_share_one_budget_and_deliver_each_message_once(
    redis_server: RedisServer,
) -> None:
    """Three processes share one budget through Redis: each sends all its messages, each
    delivered once. (How close to the rate they keep is measured by ``nox -s bench``.)"""
    with EmulatorThread(rate_limit=EmulatorRateLimit(100, 30)) as emulator:
        results = run_fleet(emulator, redis_server.url, processes=3, count=60, per_second=100)
        assert [summary for summary, _ in results] == [{"sent": 60, "failed": []}] * 3
        delivered = sorted(entry.message for entry in emulator.emulator.ledger)
    assert delivered == sorted(f"w{w}-{i}" for w in range(3) for i in range(60))


async def test_redis_clock_stepping_back_refuses_nobody(
    redis_server: RedisServer, redis_client: Redis, limiters: list[RedisLimiter]
) -> None:
    """Redis's clock stepping back an hour (an NTP step, a restored VM, a failover to a server
    whose clock is behind) after the schedule was written: the next call still goes within
    about a turn, instead of being refused until the state expires."""
    limiter = make(limiters, redis_server.url, per_second=10)
    await limiter.acquire()
    # The state as written by a clock an hour ahead of the one Redis reads from now on.
    state = await redis_client.hgetall(KEY)
    times = {b"next", b"held_back_at", b"demand_since", b"origin", b"clock_last"}
    await redis_client.hset(
        KEY, mapping={k: repr(float(v) + 3600) for k, v in state.items() if k in times}
    )
    await limiter.acquire_within(0.25)  # raises NoTurnInTime if refused for longer


async def test_closing_while_calls_wait_for_their_slot_leaks_no_connection(
    redis_server: RedisServer, redis_client: Redis, limiters: list[RedisLimiter]
) -> None:
    """Calls waiting for their slot when the limiter is closed fail with NotSentError, and
    none of them opens a connection to Redis afterwards: once closed, the limiter holds none."""
    limiter = make(limiters, redis_server.url, per_second=0.1)
    await limiter.acquire()
    waiting = [asyncio.ensure_future(limiter.acquire()) for _ in range(3)]
    await asyncio.sleep(0.05)  # their slots are ten seconds apart: they wait for them
    await limiter.aclose()
    outcomes = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 30)
    assert [type(outcome) for outcome in outcomes] == [NotSentError] * 3

    async def only_ours_left() -> None:  # Redis notices a closed connection a moment later
        while len(await redis_client.client_list()) > 1:  # noqa: ASYNC110 - polls Redis
            await asyncio.sleep(0.01)

    await asyncio.wait_for(only_ours_left(), 10)

"""Fixtures shared by the client's tests: the emulator, a fake clock and clients bound to both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _fakes import ClientFactory, FakeClock, PlatformFactory
from _hostile import TOKEN, HostileServer
from redis_fixtures import RedisServer, require_redis_server

from yourgpt_async import AsyncClient, AsyncPlatformClient, RateLimit, RetryPolicy
from yourgpt_async.testing import Emulator


@pytest.fixture
def fake_clock() -> FakeClock:
    """The test's fake monotonic clock; the client fixtures retry and pace on it."""
    return FakeClock()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """An emulator serving on a loopback port for the duration of one test."""
    async with Emulator() as emu:
        yield emu


@pytest.fixture
async def emu(fake_clock: FakeClock) -> AsyncIterator[Emulator]:
    """An emulator on the test's fake clock (files process on it), for tests whose client
    talks to it directly rather than through ``make_platform``."""
    async with Emulator(clock=fake_clock.clock) as emulator:
        yield emulator


@pytest.fixture
async def make_client(emulator: Emulator, fake_clock: FakeClock) -> AsyncIterator[ClientFactory]:
    """Build clients bound to the emulator and the fake clock; keyword arguments override.

    Every client made is closed after the test. Its HTTP session is created lazily, so a test
    can also check that a call never got as far as the network.
    """
    clients: list[AsyncClient] = []

    def make(**overrides: Any) -> AsyncClient:
        kwargs: dict[str, Any] = {
            "api_key": emulator.api_key,
            "widget_uid": emulator.widget_uid,
            "base_url": emulator.base_url,
            "retry": RetryPolicy(sleep=fake_clock.sleep, clock=fake_clock.clock),
            "rate_limit": RateLimit(clock=fake_clock.clock, sleep=fake_clock.sleep),
            **overrides,
        }
        client = AsyncClient(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> AsyncClient:
    """A client bound to the emulator, retrying and pacing on the fake clock."""
    return make_client()


@pytest.fixture
async def make_platform(
    emulator: Emulator, fake_clock: FakeClock
) -> AsyncIterator[PlatformFactory]:
    """Platform clients of the emulator on the fake clock (the default token unless given)."""
    made: list[AsyncPlatformClient] = []

    def make(token: str | None = None, **overrides: Any) -> AsyncPlatformClient:
        options: dict[str, Any] = {
            "base_url": emulator.base_url,
            "retry": RetryPolicy(sleep=fake_clock.sleep, clock=fake_clock.clock),
            "rate_limit": RateLimit(clock=fake_clock.clock, sleep=fake_clock.sleep),
            **overrides,
        }
        client = AsyncPlatformClient(token or emulator.api_token, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def yp(make_platform: PlatformFactory) -> AsyncPlatformClient:
    """The emulator's owner token, on the fake clock."""
    return make_platform()


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileServer]:
    """One hostile HTTP server per test module, in its own thread."""
    with HostileServer() as server:
        yield server


@pytest.fixture
def server(hostile_server: HostileServer) -> HostileServer:
    """The module's hostile server, reset for this test: an empty reply, no requests seen."""
    hostile_server.reply = b""
    hostile_server.hold = False
    hostile_server.release.set()
    hostile_server.requests.clear()
    return hostile_server


@pytest.fixture
async def wire(server: HostileServer) -> AsyncIterator[AsyncPlatformClient]:
    """A platform client of the hostile server, sending nothing twice and pacing nothing.

    Modules whose wire is another kind of client (the project key's, or one of a recording
    server) define their own ``wire``, which takes the place of this one there.
    """
    client = AsyncPlatformClient(
        TOKEN,
        base_url=server.base_url,
        retry=RetryPolicy(attempts=1),
        rate_limit=RateLimit(enabled=False),
    )
    yield client
    await client.aclose()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port, stopped after the test."""
    server = RedisServer(require_redis_server(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def limiters() -> AsyncIterator[list[Any]]:
    """A list to put Redis limiters in; every one is closed after the test."""
    made: list[Any] = []
    yield made
    for limiter in made:
        await limiter.aclose()


# Files whose tests take longest (subprocesses, real Redis and nginx, long virtual runs). Run
# first, so that with pytest-xdist the other workers' short tests fill the time they take,
# rather than one worker finishing alone at the end.
_SLOW_FIRST = (
    "test_docs.py",
    "test_pacing_matrix.py",
    "test_redis.py",
    "test_server_kinds.py",
    "test_pacing_parity.py",
    "test_redis_fleet.py",
    "test_cli.py",
    "test_gateway_nginx.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the slow files first; within a file the order is unchanged."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return _SLOW_FIRST.index(name) if name in _SLOW_FIRST else len(_SLOW_FIRST)

    items.sort(key=rank)

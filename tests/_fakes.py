"""Test doubles shared by the test modules: a fake monotonic clock with an awaitable sleep, and
small helpers for tests that drive the command line against an emulator thread."""

from __future__ import annotations

import asyncio
import fcntl
import json
import selectors
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from yourgpt_async import (
    AsyncClient,
    AsyncPlatformClient,
    BulkRun,
    Failed,
    InDoubt,
    RetryPolicy,
    Sent,
)
from yourgpt_async.testing import Emulator, EmulatorThread, Token

T = TypeVar("T")

ClientFactory = Callable[..., AsyncClient]
"""The `make_client` fixture: keyword overrides in, a client bound to the emulator out."""
PlatformFactory = Callable[..., AsyncPlatformClient]
"""The `make_platform` fixture: a token (the emulator's by default) and keyword overrides in,
a platform client bound to the emulator out."""


class FakeClock:
    """Monotonic time that moves only when :meth:`sleep` is awaited (or :meth:`advance` called).

    Pass ``fake.clock`` and ``fake.sleep`` wherever the package takes a clock and a sleep, so
    waits cost no real time and every requested wait is recorded in :attr:`sleeps`.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        """The current fake time, in seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the wait, move time forward by it, and still yield to the event loop."""
        self.sleeps.append(seconds)
        if seconds > 0:
            self.now += seconds
        await asyncio.sleep(0)


def policy(fake: FakeClock, **overrides: Any) -> RetryPolicy:
    """A retry policy that waits on ``fake`` and without jitter, so its waits are exact;
    keyword arguments override."""
    return RetryPolicy(sleep=fake.sleep, clock=fake.clock, jitter=False, **overrides)


_COUNT = struct.Struct("i")
_SIOCOUTQNSD = 0x894B  # Linux: bytes in a socket's send queue not yet handed to the network
_TCP_CONNECTING = (2, 3)  # SYN_SENT, SYN_RECV: the first byte of struct tcp_info


def _in_flight(fd: int) -> bool:
    """Whether the socket ``fd`` holds bytes it has not sent yet, or is still connecting:
    loopback data on its way, which no clock jump may overtake. (Sent, loopback data is in
    the peer's queue as soon as the send returns.)"""
    try:
        unsent = _COUNT.unpack(fcntl.ioctl(fd, _SIOCOUTQNSD, b"\0" * 4))[0]
        probe = socket.socket(fileno=fd)
    except OSError:
        return False
    try:
        state = probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        state = 0  # not a TCP socket
    finally:
        probe.detach()
    return unsent > 0 or state in _TCP_CONNECTING


class _VirtualSelector:
    """A selector that, when nothing is ready and nothing is on its way, moves the loop's
    clock to its next timer."""

    def __init__(self, loop: VirtualTimeLoop, real: selectors.BaseSelector) -> None:
        self._loop = loop
        self._real = real

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        # Bytes not yet sent, or a connection not yet made, are on their way to a socket of
        # this loop: wait for them, however long that takes, before time moves. Loopback data
        # that has left may still be in the kernel's hands for a moment.
        while any(_in_flight(key.fd) for key in self._real.get_map().values()):
            events = self._real.select(0.001)
            if events:
                return events
        events = self._real.select(0.0005)
        if events or timeout is None:
            return events or self._real.select(0.05)
        self._loop.now += timeout
        return []

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer whenever nothing else is ready.

    Everything on it (``asyncio.sleep``, aiohttp's timeouts, a limiter and a retry policy
    given ``loop.time``) runs on virtual time, so a test of many seconds of pacing takes a
    fraction of one, sockets on loopback included.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        super().__init__(selector=_VirtualSelector(self, selectors.DefaultSelector()))  # type: ignore[arg-type]

    def time(self) -> float:
        """The virtual time, in seconds."""
        return self.now


def on_virtual_time(test: Callable[[VirtualTimeLoop], Awaitable[T]]) -> T:
    """Run ``test(loop)`` on a :class:`VirtualTimeLoop`, whose clock jumps to its next timer
    when nothing is ready, and close the loop after."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(test(loop))
    finally:
        loop.close()


def token(emulator: Emulator, secret: str, **settings: Any) -> str:
    """Give the emulator's organisation a token with these settings; its secret."""
    emulator.tokens[secret] = Token(secret, **settings)
    return secret


def stored(emulator: Emulator, question: str) -> int:
    """How many times the emulator stored a text or FAQ titled ``question``."""
    return emulator.written("createProjectText", short_text=question)


Outcome = Sent[Any, Any] | Failed[Any] | InDoubt[Any]
"""What a bulk run yields for an item."""


async def collect(run: BulkRun[Any, Any]) -> list[Outcome]:
    """Every outcome of ``run``, in the order it yields them, inside ``async with run``."""
    async with run:
        return [outcome async for outcome in run]


def new_session(emulator: EmulatorThread) -> str:
    """A new session of the emulator thread's, made from outside its loop."""

    async def create() -> str:
        async with AsyncClient(
            emulator.api_key, widget_uid=emulator.widget_uid, base_url=emulator.base_url
        ) as client:
            return (await client.create_session()).session_uid

    return asyncio.run(create())


def write_jsonl(path: Path, lines: list[object]) -> Path:
    """Write ``lines`` to ``path``, one per line: strings as they are, the rest as JSON."""
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path

"""Test doubles shared by the test modules: a fake monotonic clock with an awaitable sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from yourgpt_async import AsyncClient

ClientFactory = Callable[..., AsyncClient]
"""The `make_client` fixture: keyword overrides in, a client bound to the emulator out."""


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

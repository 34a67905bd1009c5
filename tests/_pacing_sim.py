"""Pacing on virtual time: servers of every kind, a loop with no sockets whose clock jumps to
the next timer, the fleet's limiter on that clock, and one driver that sends N requests through
limiters against a server.

The servers are the emulator's own limiters (``yourgpt_async.testing``: a token bucket, fixed
and sliding windows, each with its way of saying when to come back), met as the client meets
them: their headers read by the client's own parsers. The same driver runs both
implementations of the pacing model: the in-process :class:`LocalLimiter`, and the fleet's
:class:`RedisLimiter` on a real ``redis-server``, its scripts kept on the loop's clock and sent
through :class:`BlockingRedis`, so that no virtual time passes during a round trip and every run
is the same.
"""

from __future__ import annotations

import asyncio
import random
import selectors
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
from multidict import CIMultiDict

from yourgpt_async import RateLimit, RedisRateLimit
from yourgpt_async._wire import retry_after
from yourgpt_async.pacing._fleet import RedisLimiter
from yourgpt_async.pacing._headers import RateHints, rate_hints
from yourgpt_async.pacing._limiter import Limiter
from yourgpt_async.pacing._local import LocalLimiter
from yourgpt_async.testing import EmulatorRateLimit
from yourgpt_async.testing._ratelimit import limiter_for


@attrs.frozen
class Verdict:
    """What the server answered, as the client reads it: accepted, the wait a 429 asked for
    (``None``: not said), and the rate-limit headers."""

    ok: bool
    retry_after: float | None = None
    hints: RateHints | None = None


class Server:
    """One of the emulator's limiters for one key, on the loop's clock."""

    def __init__(self, limit: EmulatorRateLimit, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.rate = limit.per_second
        self.allowance = limit.burst if limit.kind == "token_bucket" else limit.quota
        limiter = limiter_for(limit, clock)  # windows aligned on the clock's whole seconds
        assert limiter is not None
        self._limiter, self._clock = limiter, clock

    def take(self, now: float) -> Verdict:
        decision = self._limiter.take("key", now)
        headers = CIMultiDict(decision.headers)
        wait = None if decision.allowed else retry_after(headers)
        return Verdict(decision.allowed, wait, rate_hints(headers, now=self._clock()))


SERVERS: dict[str, dict[str, Any]] = {
    "bucket, Retry-After whole s": {},
    "bucket, Retry-After ms": {"retry_after": "ms"},
    "bucket, no Retry-After": {"retry_after": "none"},
    "fixed 1 s windows": {"kind": "fixed_window"},
    "sliding 1 s window": {"kind": "sliding_window"},
    "fixed windows + rate headers": {"kind": "fixed_window", "headers": "x-ratelimit"},
}
"""The kinds of server of the pacing matrix, as the emulator's rate-limit settings."""


def server(kind: str, rate: float, burst: int, clock: Callable[[], float]) -> Server:
    """A server of ``kind`` (a key of :data:`SERVERS`) at ``rate``; ``burst`` for a bucket."""
    return Server(EmulatorRateLimit(rate, max(1, burst), **SERVERS[kind]), clock)


# -- time --------------------------------------------------------------------------------------


class _Jump:
    """A selector with nothing to wait for but timers: it moves the clock to the next one."""

    def __init__(self, loop: InstantLoop, real: selectors.BaseSelector) -> None:
        self._loop, self._real = loop, real

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if not events and timeout:
            self._loop.now += timeout
        return events

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


class InstantLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time for code with no sockets: whenever nothing is ready, the
    clock jumps to the next timer, at once."""

    def __init__(self, start: float = 1000.37) -> None:
        self.now = start
        super().__init__(selector=_Jump(self, selectors.DefaultSelector()))  # type: ignore[arg-type]

    def time(self) -> float:
        return self.now


def run_virtual(work: Callable[[InstantLoop], Awaitable[Any]], start: float = 1000.37) -> Any:
    """Run ``work(loop)`` to its end on a fresh :class:`InstantLoop`."""
    loop = InstantLoop(start)
    try:
        return loop.run_until_complete(work(loop))
    finally:
        loop.close()


# -- the limiters, on the loop's clock ---------------------------------------------------------


def local_limiter(loop: InstantLoop, **settings: Any) -> LocalLimiter:
    """The in-process limiter (not told the rate, unless ``settings`` say), on the loop."""
    return LocalLimiter(RateLimit(clock=loop.time, sleep=asyncio.sleep, **settings))


class BlockingRedis:
    """redis-py's blocking client behind the interface :class:`RedisLimiter` sends its scripts
    through: each round trip is over before the event loop runs anything else. Each command
    has ``timeout`` seconds (of real time) to connect and to answer, with no retries, as the
    limiter's own connections have."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )

    def register_script(self, script: str) -> Callable[..., Awaitable[Any]]:
        runner = self.client.register_script(script)

        async def run(*, keys: Sequence[str], args: Sequence[object]) -> Any:
            return runner(keys=keys, args=args)

        return run

    def close(self) -> None:
        self.client.close()


def fleet_limiter(
    redis: BlockingRedis, url: str, loop: InstantLoop, **settings: Any
) -> RedisLimiter:
    """A client's limiter of the fleet ``settings`` name (``"fleet"`` unless given), kept on
    the loop's clock in ``redis`` (at ``url``)."""
    config = RedisRateLimit(
        url, **{"name": "fleet", "clock": loop.time, "sleep": asyncio.sleep, **settings}
    )
    return RedisLimiter(config, redis=redis)


# -- the driver --------------------------------------------------------------------------------


@attrs.frozen
class Run:
    """What one run measured: its seconds, the requests that reached the server, and the 429s
    among them."""

    seconds: float
    requests: int
    throttled: int

    def ratio(self, items: int, server: Server) -> float:
        """Time over the ideal, ``(N - allowance) / R``."""
        return self.seconds / ((items - server.allowance) / server.rate)

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.requests


async def drive(
    limiters: Limiter | Sequence[Limiter],
    server: Server,
    items: int,
    *,
    latency: float = 0.01,
    concurrency: int = 64,
    seed: int = 0,
    accepted: list[float] | None = None,
) -> Run:
    """Send ``items`` requests at once through ``limiters`` (one client each, the items dealt
    out in turn; at most ``concurrency`` in flight per client) to ``server``, retrying each
    429 after its ``Retry-After`` (or a jittered backoff, when it says none), as the client
    does. A request reaches the server ``latency / 2`` after its turn; an accepted one is
    answered ``latency / 2`` later, a refusal at once (a gateway refuses before the work, so a
    429 overtakes the successes sent just before it). When each accepted request reached the
    server goes into ``accepted``, if given."""
    clients = [limiters] if isinstance(limiters, Limiter) else list(limiters)
    loop = asyncio.get_running_loop()
    gates = [asyncio.Semaphore(concurrency) for _ in clients]
    jitter = random.Random(seed)
    counts = {"requests": 0, "throttled": 0}

    async def one(number: int) -> None:
        limiter, gate = clients[number % len(clients)], gates[number % len(clients)]
        async with gate:
            attempt = 0
            while True:
                ticket = await limiter.acquire()
                counts["requests"] += 1
                await asyncio.sleep(latency / 2)
                verdict = server.take(loop.time())
                if verdict.ok:
                    if accepted is not None:
                        accepted.append(loop.time())
                    await asyncio.sleep(latency / 2)
                if verdict.hints is not None:
                    limiter.on_rate_headers(ticket, verdict.hints)
                if verdict.ok:
                    limiter.on_success(ticket)
                    return
                counts["throttled"] += 1
                limiter.on_throttled(ticket, verdict.retry_after)
                attempt += 1
                backoff = jitter.uniform(0, min(2.0, 0.1 * 2 ** (attempt - 1)))
                await asyncio.sleep(verdict.retry_after or backoff)

    started = loop.time()
    await asyncio.gather(*(one(n) for n in range(items)))
    return Run(loop.time() - started, counts["requests"], counts["throttled"])


def ideal(items: int, server: Server) -> float:
    """The least time ``items`` can take at the server's rate, its allowance free."""
    return max(0.0, (items - server.allowance) / server.rate)


def busiest_second(times: Sequence[float]) -> int:
    """The most of ``times`` in any one-second window (sliding, starting at each one)."""
    ordered, most, end = sorted(times), 0, 0
    for start, moment in enumerate(ordered):
        while end < len(ordered) and ordered[end] < moment + 1.0:
            end += 1
        most = max(most, end - start)
    return most

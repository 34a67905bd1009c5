"""The pacing matrix's parts: small servers of every kind, a loop on virtual time with no
sockets, and one driver that sends N requests through a limiter against a server.

The same driver runs both implementations of the pacing model: the in-process
:class:`~yourgpt_async._ratelimit.LocalLimiter` (its Python rules, directly) and
:class:`ScriptLimiter`, which runs the fleet's Lua scripts in a real ``redis-server`` on the
virtual clock, speaking to them as :class:`~yourgpt_async.RedisLimiter` does.

The servers are written here, from the kinds' usual definitions, not from the emulator's code.
"""

from __future__ import annotations

import asyncio
import math
import random
import selectors
from collections.abc import Callable
from typing import Any, Literal, Protocol

import attrs

from yourgpt_async import RateLimit
from yourgpt_async import _redis_lua as lua
from yourgpt_async._models import Priority
from yourgpt_async._quota import fleet_quota
from yourgpt_async._ratelimit import INTERACTIVE, Limiter, LocalLimiter
from yourgpt_async._wire import RateHints

RetryAfter = Literal["seconds", "ms", "none"]


@attrs.frozen
class Verdict:
    """What the server answered: accepted, or a 429 with its wait (``None``: not said)."""

    ok: bool
    retry_after: float | None = None
    hints: RateHints | None = None


class Server(Protocol):
    rate: float
    allowance: int  # what it lets through at once, from rest

    def take(self, now: float) -> Verdict: ...


def _wait(style: RetryAfter, seconds: float) -> float | None:
    if style == "none":
        return None
    if style == "ms":
        return max(seconds, 0.001)
    return float(max(1, math.ceil(seconds - 1e-9)))  # whole seconds, as gateways send it


class Bucket:
    """A token bucket: ``burst`` at once, ``rate`` a second; a refusal takes no token."""

    def __init__(self, rate: float, burst: int, retry_after: RetryAfter, start: float) -> None:
        self.rate, self.allowance, self.style = rate, burst, retry_after
        self.tokens, self.at = float(burst), start

    def take(self, now: float) -> Verdict:
        self.tokens = min(self.allowance, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return Verdict(True)
        return Verdict(False, _wait(self.style, (1 - self.tokens) / self.rate))


class FixedWindow:
    """``rate`` requests in each whole second; a refusal says when the next one starts, in
    whole seconds. With ``headers``, every answer says what is left and when it resets."""

    def __init__(self, rate: float, *, headers: bool) -> None:
        self.rate, self.allowance, self.headers = rate, int(rate), headers
        self.window, self.used = -1, 0

    def take(self, now: float) -> Verdict:
        window = math.floor(now)
        if window != self.window:
            self.window, self.used = window, 0
        reset = window + 1 - now
        ok = self.used < self.allowance
        self.used += ok
        hints = RateHints(self.allowance - self.used, reset, self.allowance, None)
        return Verdict(ok, None if ok else _wait("seconds", reset), hints if self.headers else None)


class SlidingWindow:
    """At most ``rate`` requests in any second; a refusal waits, in whole seconds, for the
    oldest to leave the window."""

    def __init__(self, rate: float) -> None:
        self.rate, self.allowance = rate, int(rate)
        self.accepted: list[float] = []
        self.first = 0

    def take(self, now: float) -> Verdict:
        accepted = self.accepted
        while self.first < len(accepted) and accepted[self.first] <= now - 1.0:
            self.first += 1
        if len(accepted) - self.first < self.allowance:
            accepted.append(now)
            return Verdict(True)
        return Verdict(False, _wait("seconds", accepted[self.first] + 1.0 - now))


SERVERS: dict[str, Callable[[float, int, float], Server]] = {
    "bucket, Retry-After whole s": lambda r, b, t: Bucket(r, b, "seconds", t),
    "bucket, Retry-After ms": lambda r, b, t: Bucket(r, b, "ms", t),
    "bucket, no Retry-After": lambda r, b, t: Bucket(r, b, "none", t),
    "fixed 1 s windows": lambda r, b, t: FixedWindow(r, headers=False),
    "sliding 1 s window": lambda r, b, t: SlidingWindow(r),
    "fixed windows + rate headers": lambda r, b, t: FixedWindow(r, headers=True),
}


# -- time -----------------------------------------------------------------------------------


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


# -- the fleet's scripts, on the virtual clock -------------------------------------------------

_GO, _LATER = 0, 1
_MICROS = 1_000_000


class ScriptLimiter(Limiter):
    """The fleet's Lua scripts in a real Redis, on ``clock``: reserve a turn, sleep until it,
    confirm it; report successes with the next call (at once, in a batch, during a pause);
    share 429s and what rate-limit headers said — the protocol of ``RedisLimiter``."""

    def __init__(self, redis: Any, key: str, clock: Callable[[], float]) -> None:
        self._redis, self._key, self._clock = redis, key, clock
        self._acquire = redis.register_script(lua.on_virtual_clock(lua.ACQUIRE))
        self._throttle = redis.register_script(lua.on_virtual_clock(lua.THROTTLE))
        self._quota = redis.register_script(lua.on_virtual_clock(lua.QUOTA))
        self._sent: dict[float, int] = {}
        self._successes: list[int] = []
        self._cooldown_until = -math.inf
        self._flushing = False
        self._quota_written = -math.inf
        self._gate = asyncio.Lock()  # one caller asks at a time, as RedisLimiter's learnt rate
        self.rate = 20.0
        self.throttled = 0

    def _now(self) -> int:
        now = math.floor(self._clock() * _MICROS)
        self._redis.set(f"{self._key}:now", now)
        return now

    def _call(self, mode: str) -> tuple[int, int]:
        self._now()
        successes, self._successes = self._successes, []
        settings = ("0.0", "1", "1", "20.0", "0.5", "0.1", 1, 60_000)
        args = (mode, "i", -1, *settings, len(successes), *successes)
        status, micros, _, rate = self._acquire(keys=(self._key,), args=args)
        if mode == "r":
            self.rate = float(rate)
        return int(status), int(micros)

    async def acquire(self, priority: Priority = INTERACTIVE) -> float:
        while True:
            if self._clock() < self._cooldown_until:
                await asyncio.sleep(self._cooldown_until - self._clock())
            async with self._gate:
                while (reply := self._call("r"))[0] == _LATER:  # noqa: ASYNC110 - as RedisLimiter
                    await asyncio.sleep(reply[1] / _MICROS)
            status, micros = reply
            if micros > 0:
                await asyncio.sleep(micros / _MICROS)
            if status != _GO or (micros > 0 and self._call("c")[0] != _GO):
                continue
            ticket = self._clock()
            self._sent[ticket] = math.floor(ticket * _MICROS)
            return ticket

    def on_success(self, ticket: float) -> None:
        self._successes.append(self._sent.pop(ticket, 0))
        if not self._flushing and self._clock() < self._cooldown_until:
            self._flushing = True
            asyncio.get_running_loop().call_later(0.01, self._flush)

    def _flush(self) -> None:
        self._flushing = False
        if self._successes:
            self._call("n")

    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        self.throttled += 1
        pause = min(retry_after or 0.0, 30.0)
        self._cooldown_until = max(self._cooldown_until, self._clock() + pause)
        self._now()
        sent = self._sent.pop(ticket, math.floor(ticket * _MICROS))
        args = (math.floor(pause * _MICROS), sent, "0.0", "1", "20.0", "0.5", "0.9", 60_000)
        self.rate = float(self._throttle(keys=(self._key,), args=args))

    def on_rate_headers(self, ticket: float, hints: RateHints) -> None:
        now = self._clock()
        if hints.remaining > 0 and now - self._quota_written < 0.1:
            return
        self._quota_written = now
        rate, reset, hold = fleet_quota(hints, 0.5, 30.0)
        self._cooldown_until = max(self._cooldown_until, now + hold)
        self._now()
        args = (repr(rate), math.ceil(reset * _MICROS), math.ceil(hold * _MICROS), 60_000)
        self._quota(keys=(self._key,), args=args)


def local_limiter(loop: InstantLoop) -> LocalLimiter:
    """The in-process limiter with its defaults (not told the rate), on the loop's clock."""
    return LocalLimiter(RateLimit(clock=loop.time, sleep=asyncio.sleep))


# -- the driver --------------------------------------------------------------------------------


@attrs.frozen
class Run:
    """What one run measured."""

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
    limiter: Limiter,
    server: Server,
    items: int,
    *,
    latency: float = 0.01,
    concurrency: int = 64,
    seed: int = 0,
) -> Run:
    """Send ``items`` requests at once (at most ``concurrency`` in flight) through ``limiter``
    to ``server``, retrying each 429 after its ``Retry-After`` (or a jittered backoff, when it
    says none), as the client does. A request reaches the server ``latency / 2`` after its
    turn; an accepted one is answered ``latency / 2`` later, a refusal at once (a gateway
    refuses before the work, so a 429 overtakes the successes sent just before it)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    jitter = random.Random(seed)
    counts = {"requests": 0, "throttled": 0}

    async def one() -> None:
        async with gate:
            attempt = 0
            while True:
                ticket = await limiter.acquire()
                counts["requests"] += 1
                await asyncio.sleep(latency / 2)
                verdict = server.take(loop.time())
                if verdict.ok:
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
    await asyncio.gather(*(one() for _ in range(items)))
    return Run(loop.time() - started, counts["requests"], counts["throttled"])

"""One virtual-time matrix for the pacing model, run against both of its implementations.

Each row is a server (a token bucket answering 429 with a whole-second ``Retry-After``, an
exact one in milliseconds, or none; fixed and sliding one-second windows; windows that send
rate-limit headers; all the emulator's own), its rate ``R`` and burst ``B``, sending
``N = 10 s * R`` at once with 10 ms replies, not told the rate:

- ``python``: the in-process ``LocalLimiter``;
- ``lua``: the fleet's ``RedisLimiter``, its scripts in a real ``redis-server`` on the
  loop's clock.

Every row asserts the target, never a measurement: at most 1.15 x the ideal ``(N - B) / R``
against whole-second pauses (a bucket's ``Retry-After: 1``, windows), 1.10 x otherwise, and at
most 2 % of requests refused. A row short of it is an expected failure that says why
(``SHORT``), strict: the day it is met, the suite says so. Virtual time makes each row the same
on every run, so a row passes or fails for what the model does, never for how busy the machine
is. ``python tests/test_pacing_matrix.py`` prints every row, both implementations.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pacing_sim import (
    BlockingRedis,
    InstantLoop,
    Run,
    drive,
    fleet_limiter,
    local_limiter,
    run_virtual,
    server,
)
from redis_fixtures import RedisServer, require_redis_server

from yourgpt_async.pacing._limiter import Limiter

SECONDS = "bucket, Retry-After whole s"
MS = "bucket, Retry-After ms"
NONE = "bucket, no Retry-After"
FIXED = "fixed 1 s windows"
SLIDING = "sliding 1 s window"
HEADERS = "fixed windows + rate headers"
WHOLE_SECONDS = (SECONDS, FIXED, SLIDING)
TARGET_SHARE = 0.02

Row = tuple[str, int, int, str]  # server, R, B, implementation

ROWS: list[Row] = [
    (kind, rate, burst, impl)
    for kind in (SECONDS, MS, NONE, FIXED, SLIDING, HEADERS)
    for rate in (40, 200, 1000)
    for burst in ((1, 5, 20, 50) if kind in (SECONDS, MS, NONE) else (0,))
    for impl in ("python", "lua")
]

# Why each row short of its target is: the model's limits, not the test's.
ONE_PAUSE = (
    "one 429 with a whole-second pause cannot tell a bucket's rate from its burst: a burst well "
    "under the tenth of a second of the rate assumed reads a rate well under the real one"
)
PAUSE_COST = (
    "a burst near the one assumed is read well, but the whole-second pause that ends slow start "
    "is a tenth of this run's ideal on its own, and pacing 3 % under the estimate adds the rest"
)
BIG_BURST = (
    "a burst over a tenth of a second of the rate reads, at the first 429, as a higher rate: "
    "a second whole-second pause follows before a bucket fitted to both 429s settles it"
)
TINY_BURST = (
    "a burst of a few milliseconds of the rate refuses requests sent closer together than "
    "that: the rate halves below the limit at the first cheap 429 and creeps back within the "
    "probing budget"
)
CHEAP_REFUSALS = (
    "slow start's overshoot past a slow rate's burst is refused request by request, each 429 "
    "costing nothing to wait for, while the rate comes down: more than 2 % are refused"
)
LOOKAHEAD = (
    "the fleet books turns up to 0.05 s ahead after slow start: those booked before a cheap "
    "429 still go at the old rate, and a big burst's overshoot draws more than 2 % of 429s"
)
WINDOW_EDGE = (
    "a window looks like a bucket whose burst is the whole quota: two to five whole-second "
    "pauses, each a tenth of this run's ideal, pass before the chunk per pause is read"
)
HEADER_RESET = (
    "X-RateLimit-Reset comes in whole seconds (1) while the window ends sooner: each window "
    "resumes a little late, and the quota is spread over up to a second more than is left"
)
SHORT: dict[Row, str] = {}


def _short(reason: str, *rows: tuple[str, int, int]) -> None:
    for kind, rate, burst in rows:
        for impl in ("python", "lua"):
            SHORT[kind, rate, burst, impl] = reason


for _rate in (40, 200, 1000):
    _short(ONE_PAUSE, (SECONDS, _rate, 1))
    _short(WINDOW_EDGE, (FIXED, _rate, 0), (SLIDING, _rate, 0))
    _short(HEADER_RESET, (HEADERS, _rate, 0))
    for _kind in (MS, NONE):
        _short(TINY_BURST, (_kind, _rate, 1))
_short(ONE_PAUSE, (SECONDS, 200, 5), (SECONDS, 1000, 5), (SECONDS, 1000, 20), (SECONDS, 1000, 50))
_short(PAUSE_COST, (SECONDS, 40, 5), (SECONDS, 200, 20))
_short(BIG_BURST, (SECONDS, 40, 20), (SECONDS, 200, 50))
for _kind in (MS, NONE):
    _short(TINY_BURST, (_kind, 1000, 5))
    _short(CHEAP_REFUSALS, (_kind, 40, 5), (_kind, 40, 20), (_kind, 40, 50))
    SHORT[_kind, 200, 50, "lua"] = LOOKAHEAD


# What runs in the suite: every Python row up to 200/s; the Lua rows at 40/s and, at 200/s,
# a bucket of each kind with the burst of a typical gateway. A Lua row costs a second or two
# of real round trips to Redis (virtual time makes them free of waits, not of work), and at
# 1,000/s five times that: those run from the script.
IN_SUITE = [
    row
    for row in ROWS
    if (row[3] == "python" and row[1] <= 200)
    or (row[3] == "lua" and row[1] == 40)
    or (row[3] == "lua" and row[1] == 200 and row[2] == 20)
]


def _items(rate: int) -> int:
    return 10 * rate


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(require_redis_server(), Path(tmp_path_factory.mktemp("matrix")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_row(row: Row, redis: tuple[BlockingRedis, str] | None) -> tuple[Run, float]:
    """One row on virtual time: the run, and its time over the ideal."""
    kind, rate, burst, impl = row
    name = uuid.uuid4().hex

    async def go(loop: InstantLoop) -> tuple[Run, float]:
        target = server(kind, rate, burst, loop.time)
        limiter: Limiter
        if impl == "python":
            limiter = local_limiter(loop)
        else:
            assert redis is not None
            limiter = fleet_limiter(redis[0], redis[1], loop, name=name)
        try:
            run = await drive(limiter, target, _items(rate))
        finally:
            await limiter.aclose()
        return run, run.ratio(_items(rate), target)

    result: tuple[Run, float] = run_virtual(go)
    return result


def _ids(row: Row) -> str:
    kind, rate, burst, impl = row
    return f"{impl}-{kind.replace(' ', '_')}-R{rate}-B{burst}"


def _param(row: Row) -> Any:
    reason = SHORT.get(row)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(row, marks=marks, id=_ids(row))


@pytest.mark.parametrize("row", [_param(row) for row in IN_SUITE])
def test_each_row_meets_its_target(row: Row, request: pytest.FixtureRequest) -> None:
    """Every message is accepted once, within the row's target time over the ideal, with at
    most 2 % of requests refused."""
    kind, rate, _, impl = row
    redis = None
    if impl == "lua":
        url = request.getfixturevalue("redis_server").url
        redis = (BlockingRedis(url), url)
    try:
        run, ratio = run_row(row, redis)
    finally:
        if redis is not None:
            redis[0].close()
    target = 1.15 if kind in WHOLE_SECONDS else 1.10
    assert run.requests - run.throttled == _items(rate)  # each accepted exactly once
    assert ratio <= target, f"{ratio:.3f} x the ideal"
    assert run.throttled_share <= TARGET_SHARE, f"{run.throttled_share:.1%} refused"


def main() -> None:
    """Print every row of the matrix, both implementations, beside its target."""
    binary = shutil.which("redis-server") or "redis-server"
    with tempfile.TemporaryDirectory() as directory:
        redis_server = RedisServer(binary, Path(directory))
        redis_server.start()
        redis = BlockingRedis(redis_server.url)
        try:
            print(f"{'server':<30} {'R':>5} {'B':>3} {'impl':<6} {'x ideal':>8} {'429 %':>6}")
            for row in ROWS:
                kind, rate, burst, impl = row
                run, ratio = run_row(row, (redis, redis_server.url))
                target = 1.15 if kind in WHOLE_SECONDS else 1.10
                met = ratio <= target and run.throttled_share <= TARGET_SHARE
                mark = "" if met else " short" + (" (expected)" if row in SHORT else "")
                if met and row in SHORT:
                    mark = " met, but listed as short"
                print(
                    f"{kind:<30} {rate:>5} {burst:>3} {impl:<6} {ratio:8.3f} "
                    f"{run.throttled_share:6.1%}  <= {target:.2f} x, 2 %{mark}",
                    flush=True,
                )
        finally:
            redis.close()
            redis_server.stop()


if __name__ == "__main__":
    main()

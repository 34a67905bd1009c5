"""One virtual-time matrix for the pacing model, run against both of its implementations.

Each row is a server (a token bucket answering 429 with a whole-second ``Retry-After``, an
exact one in milliseconds, or none; fixed and sliding one-second windows; windows that send
rate-limit headers), its rate ``R`` and burst ``B``, and the bounds that row must hold, not
told the rate, sending ``N = 10 s * R`` at once with 10 ms replies:

- ``python``: the in-process ``LocalLimiter``, whose rules are ``_estimate.RateModel``;
- ``lua``: the fleet's scripts in a real ``redis-server`` (``tests/_pacing_sim.ScriptLimiter``).

The bounds are the issue's targets (1.15 x the ideal ``(N - B) / R`` for whole-second pauses,
1.10 x otherwise, at most 2 % of requests refused) where the model meets them, and where it does
not yet, the ceiling measured, so that a change that makes a row worse fails it. The rows short
of their target are named in ``SHORT``: one 429 whose pause is a whole second cannot tell a
service's rate from its burst, and a burst well under the assumed tenth of a second of the rate
reads a rate well under the real one.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pacing_sim import SERVERS, InstantLoop, Run, ScriptLimiter, drive, local_limiter
from redis_fixtures import RedisServer, require_redis_server

from yourgpt_async._ratelimit import Limiter

SECONDS = "bucket, Retry-After whole s"
MS = "bucket, Retry-After ms"
NONE = "bucket, no Retry-After"
FIXED = "fixed 1 s windows"
SLIDING = "sliding 1 s window"
HEADERS = "fixed windows + rate headers"

# (server, R, B, implementation): (most time / ideal, most 429 share)
MATRIX: dict[tuple[str, int, int, str], tuple[float, float]] = {}
SHORT: set[tuple[str, int, int, str]] = set()


def _row(kind: str, rate: int, burst: int, impl: str, *bounds: float) -> None:
    ratio, share = bounds
    target = 1.15 if kind in (SECONDS, FIXED, SLIDING) else 1.10
    MATRIX[kind, rate, burst, impl] = (max(ratio, target), max(share, 0.02))
    if ratio > target or share > 0.02:
        SHORT.add((kind, rate, burst, impl))


# The measured ceilings (a few per cent over the worst seen) where a row is short of its target.
for _rate, _burst, _py, _lua in [
    (40, 1, 3.0, 2.6),
    (40, 5, 1.3, 1.3),
    (40, 20, 1.3, 1.3),
    (40, 50, 1.15, 1.15),
    (200, 1, 3.7, 3.1),
    (200, 5, 2.1, 1.95),
    (200, 20, 1.2, 1.2),
    (200, 50, 1.3, 1.45),
]:
    _row(SECONDS, _rate, _burst, "python", _py, 0.02)
    _row(SECONDS, _rate, _burst, "lua", _lua, 0.02)
for _burst, _ratio in [(1, 3.8), (5, 2.9), (20, 2.15), (50, 1.6)]:
    _row(SECONDS, 1000, _burst, "python", _ratio, 0.02)
for _kind in (MS, NONE):
    for _rate, _burst, _py, _share, _lua, _lua_share in [
        (40, 1, 1.45, 0.02, 1.25, 0.02),
        (40, 5, 1.05, 0.03, 1.05, 0.03),
        (40, 20, 1.05, 0.055, 1.05, 0.075),
        (40, 50, 1.05, 0.09, 1.07, 0.14),
        (200, 1, 1.85, 0.02, 2.25, 0.02),
        (200, 5, 1.1, 0.02, 1.7, 0.02),
        (200, 20, 1.1, 0.02, 1.75, 0.025),
        (200, 50, 1.1, 0.02, 1.65, 0.035),
    ]:
        _row(_kind, _rate, _burst, "python", _py, _share)
        _row(_kind, _rate, _burst, "lua", _lua, _lua_share)
for _kind in (MS, NONE):
    for _burst, _ratio in [(1, 1.85), (5, 1.4), (20, 1.1), (50, 1.1)]:
        _row(_kind, 1000, _burst, "python", _ratio, 0.02)
for _kind, _rate, _py, _lua in [
    (FIXED, 40, 1.5, 1.3),
    (FIXED, 200, 1.3, 1.5),
    (FIXED, 1000, 1.55, None),
    (SLIDING, 40, 1.35, 1.3),
    (SLIDING, 200, 1.3, 1.4),
    (SLIDING, 1000, 1.3, None),
    (HEADERS, 40, 1.13, 2.45),
    (HEADERS, 200, 1.13, 1.6),
    (HEADERS, 1000, 1.13, None),
]:
    _row(_kind, _rate, 0, "python", _py, 0.02)
    if _lua is not None:
        _row(_kind, _rate, 0, "lua", _lua, 0.02)

_FAST_ENOUGH = {(SECONDS, 1000, 50, "python"), (HEADERS, 1000, 0, "python")}
# What runs in the suite: every Python row up to 200/s (at 1,000/s two); the Lua rows at
# 40/s, bursts 0 and 50, and the whole-second bucket of a typical gateway (200/s, burst
# 20): each Lua row costs a second or two of real Redis round trips. `python
# tests/test_pacing_matrix.py` prints the whole matrix, both implementations.
IN_SUITE = [
    key
    for key in MATRIX
    if (key[3] == "python" and (key[1] <= 200 or key in _FAST_ENOUGH))
    or (key[1] == 40 and key[2] in (0, 50))
    or key == (SECONDS, 200, 20, "lua")
]


def _items(rate: int) -> int:
    return 10 * rate


@pytest.fixture(scope="module")
def redis_client() -> Iterator[object]:
    import redis

    binary = require_redis_server()
    directory = Path(tempfile.mkdtemp(prefix="matrix-"))
    server = RedisServer(binary, directory)
    server.start()
    client = redis.Redis(port=server.port)
    try:
        yield client
    finally:
        client.close()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _run(kind: str, rate: int, burst: int, make: object) -> tuple[Run, int, float]:
    loop = InstantLoop()
    try:
        server = SERVERS[kind](rate, burst, loop.now)
        limiter: Limiter = make(loop)  # type: ignore[operator]

        async def go() -> Run:
            try:
                return await drive(limiter, server, _items(rate))
            finally:
                await limiter.aclose()

        run = loop.run_until_complete(go())
    finally:
        loop.close()
    return run, _items(rate), run.ratio(_items(rate), server)


def _ids(key: tuple[str, int, int, str]) -> str:
    kind, rate, burst, impl = key
    return f"{impl}-{kind.replace(' ', '_')}-R{rate}-B{burst}"


@pytest.mark.parametrize("key", IN_SUITE, ids=_ids)
def test_each_row_holds_its_bounds(
    key: tuple[str, int, int, str], request: pytest.FixtureRequest
) -> None:
    """Every message is accepted once, in at most the row's time over the ideal, with at most
    its share of requests refused."""
    kind, rate, burst, impl = key
    most_ratio, most_share = MATRIX[key]
    if impl == "python":
        make = local_limiter
    else:
        redis = request.getfixturevalue("redis_client")
        name = f"matrix:{{{uuid.uuid4().hex}}}"

        def make(loop: InstantLoop) -> Limiter:
            return ScriptLimiter(redis, name, loop.time)

    run, items, ratio = _run(kind, rate, burst, make)
    assert run.requests - run.throttled == items  # each accepted exactly once
    assert ratio <= most_ratio, f"{ratio:.3f} x the ideal, over {most_ratio}"
    assert run.throttled_share <= most_share


def main() -> None:
    """Print every row of the matrix, both implementations, beside its bounds."""
    import redis

    binary = shutil.which("redis-server")
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(binary or "redis-server", Path(directory))
        server.start()
        client = redis.Redis(port=server.port)
        try:
            print(
                f"{'server':<30} {'R':>5} {'B':>3} {'impl':<6} {'x ideal':>8} {'429 %':>6}  bound"
            )
            for (kind, rate, burst, impl), (most, share) in sorted(MATRIX.items()):
                name = f"matrix:{{{uuid.uuid4().hex}}}"

                def make(loop: InstantLoop, name: str = name, impl: str = impl) -> Limiter:
                    if impl == "python":
                        return local_limiter(loop)
                    return ScriptLimiter(client, name, loop.time)

                run, _, ratio = _run(kind, rate, burst, make)
                mark = " (short of target)" if (kind, rate, burst, impl) in SHORT else ""
                print(
                    f"{kind:<30} {rate:>5} {burst:>3} {impl:<6} {ratio:8.3f} "
                    f"{run.throttled_share:6.1%}  <= {most:.2f} x, {share:.0%}{mark}",
                    flush=True,
                )
        finally:
            client.close()
            server.stop()


if __name__ == "__main__":
    main()

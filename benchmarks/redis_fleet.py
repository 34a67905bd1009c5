"""The Redis fleet benchmark: several processes share one key's budget through `RedisRateLimit`.

4 worker processes × 2,000 `send_message` calls against an emulator that allows R = 200/s per
key; each worker knows R only through `RedisRateLimit(per_second=R)`. Reported: the time against
the ideal 8,000 / R, the 429s, the achieved rate, and what an acquire costs over the in-process
bucket. For comparison the same fleet runs with the best a fleet can do without coordination,
each process holding `RateLimit(per_second=R / 4)` (it must know the fleet's size).

Run it from the repository root (it starts its own redis-server unless given `--redis-url`)::

    python -m benchmarks.redis_fleet            # or: python benchmarks/redis_fleet.py
    python -m benchmarks.redis_fleet --processes 2 --sends 200 --no-baseline   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from yourgpt_async import AsyncClient, Priority, RateLimit, RedisRateLimit, YourGPTError
from yourgpt_async.pacing._limiter import Limiter, LimiterFactory
from yourgpt_async.pacing._local import make_limiter
from yourgpt_async.testing import EmulatorRateLimit, EmulatorThread

_MICRO_ACQUIRES = 5000
_WARMUP = 65  # the client's default max_concurrency of 64, and createSession


# -- a redis-server of our own ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class _OwnRedis:
    """A throwaway redis-server on a free loopback port, which can be killed and restarted."""

    def __init__(self, directory: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit(
                "redis-server is not installed (apt-get install redis-server), or pass --redis-url"
            )
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        self.command += ["--save", "", "--appendonly", "no", "--dir", directory]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _pings(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.01)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def outage(self, down_at: float, back_at: float) -> Callable[[], None]:
        """A function that kills the server `down_at` s after the fleet starts and restarts
        it at `back_at` s."""

        def run() -> None:
            time.sleep(2.0 + down_at)  # the workers start 2 s after being launched
            self.kill()
            time.sleep(back_at - down_at)
            self.start()

        return run


@contextmanager
def redis_server() -> Iterator[_OwnRedis]:
    """Run a throwaway redis-server; yield it."""
    with tempfile.TemporaryDirectory() as directory:
        server = _OwnRedis(directory)
        server.start()
        try:
            yield server
        finally:
            if server.process is not None:
                server.process.send_signal(signal.SIGTERM)
                server.process.wait()


# -- one worker process ----------------------------------------------------------------------


class _SleepMeter:
    """The limiter's sleep: waits for real and adds the time slept to the waiting task's total.

    What it measures is the time actually slept, timer lateness included, so that the rest of
    an acquire is what the limiter itself costs: for Redis, its round trips.
    """

    def __init__(self) -> None:
        self.slept: dict[asyncio.Task[Any] | None, float] = {}

    async def sleep(self, seconds: float) -> None:
        task = asyncio.current_task()
        started = time.perf_counter()
        try:
            await asyncio.sleep(seconds)
        finally:
            slept = time.perf_counter() - started
            self.slept[task] = self.slept.get(task, 0.0) + slept


class _TimedLimiter(Limiter):
    """Wraps a limiter; notes how long each acquire took besides sleeping."""

    def __init__(self, inner: Limiter, meter: _SleepMeter) -> None:
        self.inner = inner
        self.meter = meter
        self.overheads: list[float] = []

    async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> float:
        task = asyncio.current_task()
        self.meter.slept[task] = 0.0
        started = time.perf_counter()
        ticket = await self.inner.acquire(priority)
        took = time.perf_counter() - started
        self.overheads.append(took - self.meter.slept.pop(task, 0.0))
        return ticket

    def on_success(self, ticket: float) -> None:
        self.inner.on_success(ticket)

    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        self.inner.on_throttled(ticket, retry_after)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Timed(LimiterFactory):
    def __init__(self, inner: RateLimit | LimiterFactory, meter: _SleepMeter) -> None:
        self.inner = inner
        self.meter = meter
        self.made: list[_TimedLimiter] = []

    def make_limiter(self) -> Limiter:
        limiter = _TimedLimiter(make_limiter(self.inner), self.meter)
        self.made.append(limiter)
        return limiter


async def _worker(settings: dict[str, Any]) -> dict[str, Any]:
    meter = _SleepMeter()
    inner: RateLimit | LimiterFactory
    if settings["mode"] in ("redis", "told", "untold", "outage", "priority"):
        told = settings["mode"] != "untold"
        inner = RedisRateLimit(
            settings["redis_url"],
            name=settings["name"],
            per_second=settings["rate"] if told else None,
            burst=settings["burst"] if told else 1,
            expected_clients=settings["processes"] if settings["mode"] == "outage" else 1,
            reconnect_interval=0.5,
            sleep=meter.sleep,
        )
    else:
        inner = RateLimit(per_second=settings["rate"] / settings["processes"], sleep=meter.sleep)
    timed = _Timed(inner, meter)
    async with AsyncClient(
        settings["api_key"],
        widget_uid=settings["widget_uid"],
        base_url=settings["base_url"],
        rate_limit=timed,
    ) as client:
        # The session first: its request is not one of the sends timed, and the service's
        # bucket refills before they start, as in the pacing matrix.
        session = await client.create_session()
        await asyncio.sleep(max(0.0, settings["start_at"] - time.time()))

        async def send(index: int) -> bool:
            try:
                await client.send_message(session.session_uid, f"{settings['tag']}-{index}")
            except YourGPTError:
                return False
            return True

        latencies: list[float] = []
        if settings["mode"] == "priority" and settings["tag"] == "w0":
            results = await _interactive_beside_bulk(
                client, session.session_uid, settings, latencies
            )
        elif settings["mode"] == "priority":
            items = [
                (session.session_uid, f"{settings['tag']}-{i}") for i in range(settings["sends"])
            ]
            async with client.send_many(items) as run:
                results = [outcome.status == "sent" async for outcome in run]
        else:
            results = await asyncio.gather(*(send(i) for i in range(settings["sends"])))
        finished = time.time()
    overheads = [o for limiter in timed.made for o in limiter.overheads]
    return {
        "sent": sum(results),
        "finished": finished,
        "overheads": overheads,
        "latencies": latencies,
    }


async def _interactive_beside_bulk(
    client: AsyncClient, uid: str, settings: dict[str, Any], latencies: list[float]
) -> list[bool]:
    """Bulk-send this worker's share with send_many while, every 50 ms, one interactive
    send_message goes out; note each interactive call's latency."""
    items = [(uid, f"{settings['tag']}-{i}") for i in range(settings["sends"])]
    done = asyncio.Event()

    async def interactive() -> None:
        index = 0
        await asyncio.sleep(1.0)  # the bulk runs have filled the schedule by then
        while not done.is_set():
            started = time.perf_counter()
            with suppress(YourGPTError):
                await client.send_message(uid, f"{settings['tag']}-live-{index}")
            latencies.append(time.perf_counter() - started)
            index += 1
            await asyncio.sleep(0.05)

    probe = asyncio.ensure_future(interactive())
    async with client.send_many(items) as run:
        results = [outcome.status == "sent" async for outcome in run]
    done.set()
    await probe
    return results


# -- the fleet -------------------------------------------------------------------------------


class _Arrivals:
    """The emulator's clock: notes when each request takes a token."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        now = time.monotonic()
        with self._lock:
            self.times.append(now)
        return now

    def busiest_second(self) -> int:
        """The most requests in any one-second window, sliding from each arrival."""
        times = sorted(self.times)
        most, end = 0, 0
        for start, moment in enumerate(times):
            while end < len(times) and times[end] < moment + 1.0:
                end += 1
            most = max(most, end - start)
        return most

    def rate(self) -> float:
        """Least-squares slope of requests over time, in requests per second."""
        times = sorted(self.times)
        mean_time = sum(times) / len(times)
        mean_index = (len(times) - 1) / 2
        covariance = sum((t - mean_time) * (i - mean_index) for i, t in enumerate(times))
        return covariance / sum((t - mean_time) ** 2 for t in times)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_fleet(
    mode: str, args: argparse.Namespace, redis_url: str, outage: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Run the fleet once; return its figures. `outage`, if given, runs in a thread from the
    start (it kills and restarts Redis)."""
    arrivals = _Arrivals()
    limit = EmulatorRateLimit(args.rate, args.burst)
    with EmulatorThread(rate_limit=limit, clock=arrivals) as emulator:
        start_at = time.time() + 2.0  # every worker imported and connected by then
        settings = {
            "mode": mode,
            "redis_url": redis_url,
            "name": f"bench-{uuid.uuid4().hex[:8]}",
            "rate": args.rate,
            "burst": args.burst,
            "processes": args.processes,
            "sends": args.sends,
            "base_url": emulator.base_url,
            "api_key": emulator.api_key,
            "widget_uid": emulator.widget_uid,
            "start_at": start_at,
        }
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", json.dumps({**settings, "tag": f"w{n}"})],
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(args.processes)
        ]
        breaker = None
        if outage is not None:
            breaker = threading.Thread(target=outage)
            breaker.start()
        reports = []
        for worker in workers:
            stdout, _ = worker.communicate()
            if worker.returncode:
                sys.exit(f"a worker failed (exit {worker.returncode})")
            reports.append(json.loads(stdout))
        if breaker is not None:
            breaker.join()
        throttled = emulator.emulator.count_status(429)
        delivered = len(emulator.emulator.ledger)
    figures: dict[str, Any] = {}
    latencies = [x for report in reports for x in report["latencies"]]
    if latencies:
        figures["interactive_p50_ms"] = _percentile(latencies, 0.5) * 1000
        figures["interactive_p99_ms"] = _percentile(latencies, 0.99) * 1000
        figures["interactive_calls"] = len(latencies)
    if mode != "partition":  # the local limiter sleeps in its own task: nothing to measure there
        overheads = [o for report in reports for o in report["overheads"]]
        # The first acquires of each worker start together (one per concurrency slot, while
        # the loop also opens its HTTP and Redis connections): the steady state follows them.
        steady = [o for report in reports for o in report["overheads"][_WARMUP:]]
        figures |= {
            "overhead_p50_ms": _percentile(overheads, 0.5) * 1000,
            "overhead_p99_ms": _percentile(overheads, 0.99) * 1000,
            "steady_p50_ms": _percentile(steady, 0.5) * 1000,
            "steady_p99_ms": _percentile(steady, 0.99) * 1000,
        }
    return {
        "mode": mode,
        "seconds": max(report["finished"] for report in reports) - start_at,
        "ideal": args.processes * args.sends / args.rate,
        "throttled": throttled,
        "delivered": delivered,
        "sent": sum(report["sent"] for report in reports),
        "rate": arrivals.rate(),
        "busiest_second": arrivals.busiest_second(),
        **figures,
    }


async def _micro(redis_url: str) -> dict[str, float]:
    """Acquire latency when the limit does not bind: the limiter's own cost, one caller."""
    figures: dict[str, float] = {}
    limiters: dict[str, Limiter] = {
        "local": make_limiter(RateLimit(per_second=1e9, burst=1_000_000)),
        "redis": make_limiter(
            RedisRateLimit(redis_url, name=f"micro-{uuid.uuid4().hex[:8]}", per_second=1e9)
        ),
    }
    for label, limiter in limiters.items():
        for _ in range(100):  # warm up: connect, load the script
            await limiter.acquire()
        took = []
        for _ in range(_MICRO_ACQUIRES):
            started = time.perf_counter()
            await limiter.acquire()
            took.append(time.perf_counter() - started)
        await limiter.aclose()
        figures[f"{label}_p50_us"] = _percentile(took, 0.5) * 1e6
        figures[f"{label}_p99_us"] = _percentile(took, 0.99) * 1e6
        figures[f"{label}_mean_us"] = statistics.fmean(took) * 1e6
    return figures


def _report(
    results: list[dict[str, Any]], micro: dict[str, float], args: argparse.Namespace
) -> None:
    total = args.processes * args.sends
    print(
        f"\n{args.processes} processes x {args.sends} sends = {total}, emulator limit R = "
        f"{args.rate:g}/s per key (ideal {total / args.rate:.1f} s)\n"
    )
    print(
        f"{'fleet':<34}{'time':>9}{'vs ideal':>10}{'rate/s':>9}{'429s':>7}{'acquire p50/p99':>20}"
    )
    for result in results:
        label = {
            "redis": f"RedisRateLimit(per_second={args.rate:g})",
            "partition": f"RateLimit(per_second={args.rate / args.processes:g}) each",
        }[result["mode"]]
        overhead = (
            f"{result['overhead_p50_ms']:.2f}/{result['overhead_p99_ms']:.2f} ms"
            if result["mode"] == "redis"
            else "-"
        )
        print(
            f"{label:<34}{result['seconds']:>8.2f}s{result['seconds'] / result['ideal']:>9.3f}x"
            f"{result['rate']:>9.1f}{result['throttled']:>7}{overhead:>20}"
        )
        if result["delivered"] != total or result["sent"] != total:
            print(f"  !! delivered {result['delivered']}, sent {result['sent']} of {total}")
    print(
        "\nacquire p50/p99: time in acquire() besides sleeping until the slot, i.e. the Redis "
        "round trips\n(reserve, plus a cool-down check after a wait) and waiting for a pooled "
        "connection."
    )
    for result in results:
        if result["mode"] == "redis":
            print(
                f"Without each worker's first {_WARMUP} acquires (which start all at once): "
                f"p50 {result['steady_p50_ms']:.2f} ms, p99 {result['steady_p99_ms']:.2f} ms"
            )
    print(f"\nuncontended acquire, one caller, {_MICRO_ACQUIRES} times (the limiter's own cost):")
    for label in ("local", "redis"):
        print(
            f"  {label:<6} p50 {micro[f'{label}_p50_us']:8.1f} us   "
            f"p99 {micro[f'{label}_p99_us']:8.1f} us   mean {micro[f'{label}_mean_us']:8.1f} us"
        )
    print(
        f"  added by Redis: p50 {micro['redis_p50_us'] - micro['local_p50_us']:.1f} us, "
        f"p99 {micro['redis_p99_us'] - micro['local_p99_us']:.1f} us"
    )


def _rows(results: dict[str, dict[str, Any]], micro: dict[str, float], args: Any) -> None:
    total = args.processes * args.sends
    print(
        f"\n{args.processes} processes x {args.sends} sends = {total}; service: token bucket "
        f"{args.rate:g}/s, burst {args.burst}, whole-second Retry-After "
        f"(ideal {total / args.rate:.2f} s)"
    )
    print(f"{'row':<44}{'vs ideal':>9}{'429s':>6}{'429 %':>7}{'busiest 1 s':>12}{'sent':>7}")
    labels = {
        "told": "(a) told per_second and burst",
        "untold": "(b) not told (learnt together)",
        "outage": "(c) told, Redis killed 1 s in, back 2.5 s in",
        "priority": "(d) bulk send_many in every process",
    }
    for mode, result in results.items():
        share = 100 * result["throttled"] / max(1, result["delivered"])
        print(
            f"{labels[mode]:<44}{result['seconds'] / result['ideal']:>8.3f}x"
            f"{result['throttled']:>6}{share:>6.1f}%{result['busiest_second']:>12}"
            f"{result['delivered']:>7}"
        )
    priority = results.get("priority", {})
    if "interactive_p50_ms" in priority:
        print(
            f"(d) interactive send_message beside the bulk runs ({priority['interactive_calls']} "
            f"calls): p50 {priority['interactive_p50_ms']:.1f} ms, p99 "
            f"{priority['interactive_p99_ms']:.1f} ms (2 / rate = {2000 / args.rate:.0f} ms)"
        )
    print(
        f"(e) one uncontended acquire: local p50 {micro['local_p50_us']:.1f} us, p99 "
        f"{micro['local_p99_us']:.1f} us; Redis p50 {micro['redis_p50_us']:.1f} us, p99 "
        f"{micro['redis_p99_us']:.1f} us"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --worker, be one of its processes)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_fleet", description=__doc__)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--sends", type=int, default=500, help="sends per process")
    parser.add_argument("--rate", type=float, default=200.0, help="the emulator's limit, R/s")
    parser.add_argument("--burst", type=int, default=20, help="the emulator's burst")
    parser.add_argument(
        "--rows", default="told,untold,outage,priority", help="which rows (comma-separated)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(asyncio.run(_worker(json.loads(args.worker)))))
        return 0
    results: dict[str, dict[str, Any]] = {}
    with redis_server() as server:
        for mode in args.rows.split(","):
            outage = server.outage(1.0, 2.5) if mode == "outage" else None
            results[mode] = run_fleet(mode, args, server.url, outage)
        micro = asyncio.run(_micro(server.url))
    _rows(results, micro, args)
    if args.json:
        print(json.dumps({"fleets": results, "micro": micro}, indent=2))
    return 0


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    sys.exit(main())

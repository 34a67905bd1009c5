"""The client variants under test, and the measured run of one variant in one process.

Every variant does the same work per call: encode the ``sendMessage`` body as JSON, POST it
with the ``api-key`` header over a pooled keep-alive connection, read the body, decode the
JSON, check ``type == "RXSUCCESS"`` and take ``data``. The SDK does more on top (argument
validation, the rate limiter, the retry wrapper, typed ``Message`` models), which is what the
comparison prices.

``python -m benchmarks._clients VARIANT --base-url ... --concurrency N ...`` runs one variant
in a fresh process and prints one JSON line with its figures; see :func:`measure`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["VARIANTS", "measure", "process_cpu_seconds", "system_busy_seconds"]

API_KEY = "apk-bench-0000"
WIDGET_UID = "bench-widget"
SESSION_UID = "39772b8d-d1c8-4d5a-a473-a6841bc4c880"
MESSAGE = "Hello, can you help me with my order?"

Send = Callable[[], Awaitable[Any]]
Factory = Callable[[str, str, str, str, int], "AsyncIterator[Send]"]

_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class EnvelopeError(Exception):
    """The reply was not a successful envelope (none is expected in a benchmark)."""


def _payload(widget_uid: str, session_uid: str) -> dict[str, str]:
    return {
        "widget_uid": widget_uid,
        "session_uid": session_uid,
        "message": MESSAGE,
        "send_by": "user",
    }


def _check(raw: bytes | str) -> Any:
    envelope = json.loads(raw)
    if type(envelope) is not dict or envelope.get("type") != "RXSUCCESS":
        raise EnvelopeError(str(raw)[:200])
    return envelope.get("data")


@asynccontextmanager
async def _floor(
    base_url: str, api_key: str, widget_uid: str, session_uid: str, concurrency: int
) -> AsyncIterator[Send]:
    """Raw aiohttp and ``json``: the least any aiohttp-based client can do."""
    import aiohttp

    url = base_url + "/sendMessage"
    headers = {**_HEADERS, "api-key": api_key}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def send() -> Any:
            body = json.dumps(_payload(widget_uid, session_uid)).encode()
            async with session.post(url, data=body, headers=headers) as response:
                raw = await response.read()
            return _check(raw)

        yield send


@asynccontextmanager
async def _sdk(
    base_url: str,
    api_key: str,
    widget_uid: str,
    session_uid: str,
    concurrency: int,
    *,
    unpaced: bool = False,
) -> AsyncIterator[Send]:
    """This SDK with its defaults (adaptive limiter, retry policy, typed models)."""
    from yourgpt_async import AsyncClient, RateLimit

    rate_limit = RateLimit.unlimited() if unpaced else None
    async with AsyncClient(
        api_key,
        widget_uid=widget_uid,
        base_url=base_url,
        max_concurrency=concurrency,
        rate_limit=rate_limit,
    ) as client:

        async def send() -> Any:
            return await client.send_message(session_uid, MESSAGE)

        yield send


@asynccontextmanager
async def _sdk_unpaced(
    base_url: str, api_key: str, widget_uid: str, session_uid: str, concurrency: int
) -> AsyncIterator[Send]:
    """This SDK with ``rate_limit=RateLimit.unlimited()``."""
    async with _sdk(base_url, api_key, widget_uid, session_uid, concurrency, unpaced=True) as s:
        yield s


@asynccontextmanager
async def _httpx(
    base_url: str, api_key: str, widget_uid: str, session_uid: str, concurrency: int
) -> AsyncIterator[Send]:
    """httpx.AsyncClient doing the floor's work."""
    import httpx

    url = base_url + "/sendMessage"
    headers = {**_HEADERS, "api-key": api_key}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:

        async def send() -> Any:
            body = json.dumps(_payload(widget_uid, session_uid)).encode()
            response = await client.post(url, content=body, headers=headers)
            return _check(response.content)

        yield send


@asynccontextmanager
async def _aiohttp_retry(
    base_url: str, api_key: str, widget_uid: str, session_uid: str, concurrency: int
) -> AsyncIterator[Send]:
    """aiohttp-retry's RetryClient (exponential backoff, its defaults) doing the floor's work."""
    import aiohttp
    from aiohttp_retry import ExponentialRetry, RetryClient

    url = base_url + "/sendMessage"
    headers = {**_HEADERS, "api-key": api_key}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    async with RetryClient(client_session=session, retry_options=ExponentialRetry()) as client:

        async def send() -> Any:
            body = json.dumps(_payload(widget_uid, session_uid)).encode()
            async with client.post(url, data=body, headers=headers) as response:
                raw = await response.read()
            return _check(raw)

        yield send


VARIANTS: dict[str, Factory] = {
    "aiohttp": _floor,
    "sdk": _sdk,
    "sdk-unpaced": _sdk_unpaced,
    "httpx": _httpx,
    "aiohttp-retry": _aiohttp_retry,
}
"""Variant name to a context manager yielding its ``send()``; ``aiohttp`` is the floor."""


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of another process, from ``/proc`` (Linux)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def system_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot, from ``/proc/stat`` (Linux)."""
    with open("/proc/stat", "rb") as stat:
        fields = [int(field) for field in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def _drive(send: Send, concurrency: int, *, seconds: float) -> int:
    """Keep ``concurrency`` calls in flight for ``seconds``; return how many completed."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await send()
            done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def _warm_up(send: Send, concurrency: int, *, chunk: float, limit: float) -> float:
    """Drive until throughput stops growing (connections open, an adaptive limiter ramped up).

    Runs chunks of ``chunk`` seconds until one is no more than 5 % faster than the one before,
    or ``limit`` seconds have passed; returns the seconds spent.
    """
    started = time.perf_counter()
    previous = 0.0
    while True:
        rate = await _drive(send, concurrency, seconds=chunk) / chunk
        elapsed = time.perf_counter() - started
        if (previous and rate <= previous * 1.05) or elapsed >= limit:
            return elapsed
        previous = rate


async def measure(
    variant: str,
    *,
    base_url: str,
    concurrency: int,
    seconds: float,
    warmup_chunk: float = 0.4,
    warmup_limit: float = 12.0,
    server_pid: int | None = None,
    api_key: str = API_KEY,
    widget_uid: str = WIDGET_UID,
    session_uid: str = SESSION_UID,
    profile: str | None = None,
) -> dict[str, Any]:
    """Warm up, then keep ``concurrency`` calls in flight for ``seconds`` in this process.

    Returns the client's CPU seconds per request (``time.process_time``: user + system of the
    whole process), the requests per second (wall clock), and, when ``server_pid`` is given,
    the server's CPU per request and its utilisation over the run (to show whether it was the
    bottleneck), and the CPU the machine's other processes took meanwhile (noise). With
    ``profile`` (a path), the timed run is profiled with cProfile and its stats are dumped
    there; the timings are then inflated by the profiler.
    """
    profiler = cProfile.Profile() if profile else None
    factory = VARIANTS[variant]
    async with factory(base_url, api_key, widget_uid, session_uid, concurrency) as send:
        warmed = await _warm_up(send, concurrency, chunk=warmup_chunk, limit=warmup_limit)
        gc.collect()
        server_before = process_cpu_seconds(server_pid) if server_pid else 0.0
        busy_before = system_busy_seconds()
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = time.process_time()
        wall_before = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        requests = await _drive(send, concurrency, seconds=seconds)
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - wall_before
        cpu = time.process_time() - cpu_before
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = process_cpu_seconds(server_pid) - server_before if server_pid else None
        others = system_busy_seconds() - busy_before - cpu - (server_cpu or 0.0)
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    return {
        "variant": variant,
        "concurrency": concurrency,
        "requests": requests,
        "warmup_s": warmed,
        "wall_s": wall,
        "cpu_s": cpu,
        "user_s": usage_after.ru_utime - usage_before.ru_utime,
        "sys_s": usage_after.ru_stime - usage_before.ru_stime,
        "cpu_us_per_request": cpu / requests * 1e6,
        "requests_per_s": requests / wall,
        "client_cpu_share": cpu / wall,
        "server_cpu_us_per_request": None if server_cpu is None else server_cpu / requests * 1e6,
        "server_cpu_share": None if server_cpu is None else server_cpu / wall,
        "other_processes_cpu_share": max(0.0, others / wall),
    }


def main(argv: list[str] | None = None) -> None:
    """Run one variant and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._clients")
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the timed run")
    parser.add_argument("--warmup-limit", type=float, default=12.0, help="most seconds to warm up")
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--api-key", default=API_KEY)
    parser.add_argument("--widget-uid", default=WIDGET_UID)
    parser.add_argument("--session-uid", default=SESSION_UID)
    parser.add_argument("--profile", metavar="PATH", help="dump cProfile stats of the run here")
    parser.add_argument(
        "--sdk-path",
        metavar="DIR",
        help="import yourgpt_async from DIR (an earlier revision, for a before/after run)",
    )
    parser.add_argument("--label", help="the variant's name in the result (default: VARIANT)")
    args = parser.parse_args(argv)
    if args.sdk_path:
        sys.path.insert(0, args.sdk_path)
    result = asyncio.run(
        measure(
            args.variant,
            base_url=args.base_url,
            concurrency=args.concurrency,
            seconds=args.seconds,
            warmup_limit=args.warmup_limit,
            server_pid=args.server_pid,
            api_key=args.api_key,
            widget_uid=args.widget_uid,
            session_uid=args.session_uid,
            profile=args.profile,
        )
    )
    if args.label:
        result["variant"] = args.label
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

"""The bulk scenarios, each run in a fresh process: memory, throughput and pacing.

``python -m benchmarks._scenarios bulk-memory --base-url URL --items N`` sends N generated
items through ``AsyncClient.send_many`` and reports the peak RSS growth; ``python -m
benchmarks._scenarios bulk-throughput send-many|gather --base-url URL --items N`` times N
sends through ``send_many`` or through ``asyncio.gather`` with a semaphore; ``python -m
benchmarks._scenarios rate-limited --told|--not-told`` runs a bulk send against an emulator
that enforces a rate limit. Each prints one JSON line.
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
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from ._clients import (
    API_KEY,
    SESSION_UID,
    WIDGET_UID,
    process_cpu_seconds,
    system_busy_seconds,
)

__all__ = [
    "BULK_VARIANTS",
    "bulk_memory",
    "bulk_throughput",
    "gather_bulk",
    "has_send_many",
    "rate_limited",
    "send_bulk",
]

_PAGE = os.sysconf("SC_PAGE_SIZE")


def has_send_many() -> bool:
    """Whether the installed SDK has ``AsyncClient.send_many`` yet."""
    from yourgpt_async import AsyncClient

    return callable(getattr(AsyncClient, "send_many", None))


def _rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _kind(outcome: Any) -> str:
    return type(outcome).__name__


async def send_bulk(client: Any, items: Iterable[Any], concurrency: int) -> Counter[str]:
    """Send every item; count the outcomes by kind (``Sent``, ``Failed``, ``InDoubt``...).

    Uses ``send_many``; without it (not written yet), ``concurrency`` workers over
    ``send_message``, counting exceptions by class name.
    """
    counts: Counter[str] = Counter()
    if has_send_many():
        async with client.send_many(items, concurrency=concurrency) as run:
            async for outcome in run:
                counts[_kind(outcome)] += 1
        return counts
    iterator = iter(items)

    async def worker() -> None:
        for session_uid, message in iterator:
            try:
                await client.send_message(session_uid, message)
            except Exception as error:  # counted, as send_many would report it
                counts[_kind(error)] += 1
            else:
                counts["Sent"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


async def gather_bulk(client: Any, items: Iterable[Any], concurrency: int) -> Counter[str]:
    """What a user would write without ``send_many``: one ``gather`` over every send.

    Each ``send_message`` coroutine is wrapped in a guard holding an ``asyncio.Semaphore`` of
    ``concurrency``, so ``gather`` makes one task per item up front; errors are returned, not
    raised, so every item has an outcome as with ``send_many``.
    """
    semaphore = asyncio.Semaphore(concurrency)

    async def guarded(call: Awaitable[Any]) -> Any:
        async with semaphore:
            return await call

    outcomes = await asyncio.gather(
        *(guarded(client.send_message(uid, text)) for uid, text in items),
        return_exceptions=True,
    )
    return Counter(
        _kind(outcome) if isinstance(outcome, BaseException) else "Sent" for outcome in outcomes
    )


BULK_VARIANTS: dict[str, Callable[[Any, Iterable[Any], int], Awaitable[Counter[str]]]] = {
    "send-many": send_bulk,
    "gather": gather_bulk,
}
"""The bulk-throughput variants: ``send_many``, and ``gather`` with a semaphore."""


def _items(count: int, session_uid: str) -> Iterator[tuple[str, str]]:
    for number in range(count):
        yield session_uid, f"bulk message {number}"


class _RssSampler(threading.Thread):
    """Samples this process's RSS every ``interval`` seconds, for the chart."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()
        self._origin = time.perf_counter()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.samples.append((time.perf_counter() - self._origin, _rss_bytes()))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


async def bulk_memory(
    *, base_url: str, items: int, concurrency: int, warmup_items: int = 2000
) -> dict[str, Any]:
    """Send ``items`` generated items through one client; measure the RSS growth.

    The baseline is the RSS after a warm-up send (imports done, connections open, limiter
    ramped up); the peak is ``ru_maxrss``, the kernel's high-water mark, so no spike between
    samples is missed.
    """
    from yourgpt_async import AsyncClient

    if not has_send_many():
        return {"skipped": "AsyncClient has no send_many yet (yourgpt_async/_bulk/)"}
    async with AsyncClient(API_KEY, widget_uid=WIDGET_UID, base_url=base_url) as client:
        warm = await send_bulk(client, _items(warmup_items, SESSION_UID), concurrency)
        gc.collect()
        baseline = _rss_bytes()
        sampler = _RssSampler(interval=0.5)
        sampler.start()
        started = time.perf_counter()
        counts = await send_bulk(client, _items(items, SESSION_UID), concurrency)
        elapsed = time.perf_counter() - started
        sampler.stop()
        peak = _peak_rss_bytes()
        end = _rss_bytes()
    mib = 1024 * 1024
    return {
        "items": items,
        "concurrency": concurrency,
        "method": "send_many",
        "outcomes": dict(counts),
        "warmup_outcomes": dict(warm),
        "seconds": elapsed,
        "items_per_s": items / elapsed,
        "baseline_rss_mib": baseline / mib,
        "peak_rss_mib": peak / mib,
        "peak_growth_mib": (peak - baseline) / mib,
        "end_growth_mib": (end - baseline) / mib,
        "rss_samples": [
            (round(t, 2), round((rss - baseline) / mib, 2)) for t, rss in sampler.samples
        ],
    }


async def bulk_throughput(
    *,
    variant: str,
    base_url: str,
    items: int,
    concurrency: int,
    warmup_items: int = 2000,
    server_pid: int | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """Send ``items`` generated items one way (``BULK_VARIANTS``); time them and their CPU.

    The client is the SDK with ``RateLimit.unlimited()`` and ``max_concurrency=concurrency``
    for both variants. A warm-up send of ``warmup_items`` the same way opens the connections
    first. CPU is ``time.process_time`` of this whole process (the event loop included). With
    ``profile`` (a path) the timed send runs under cProfile, whose stats are dumped there.
    """
    from yourgpt_async import AsyncClient, RateLimit

    if variant == "send-many" and not has_send_many():
        return {"skipped": "AsyncClient has no send_many yet (yourgpt_async/_bulk/)"}
    send = BULK_VARIANTS[variant]
    profiler = cProfile.Profile() if profile else None
    async with AsyncClient(
        API_KEY,
        widget_uid=WIDGET_UID,
        base_url=base_url,
        max_concurrency=concurrency,
        rate_limit=RateLimit.unlimited(),
    ) as client:
        warm = await send(client, _items(warmup_items, SESSION_UID), concurrency)
        gc.collect()
        baseline = _rss_bytes()
        server_before = process_cpu_seconds(server_pid) if server_pid else 0.0
        busy_before = system_busy_seconds()
        cpu_before = time.process_time()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        counts = await send(client, _items(items, SESSION_UID), concurrency)
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        server_cpu = process_cpu_seconds(server_pid) - server_before if server_pid else None
        others = system_busy_seconds() - busy_before - cpu - (server_cpu or 0.0)
        peak = _peak_rss_bytes()
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    mib = 1024 * 1024
    return {
        "variant": variant,
        "items": items,
        "concurrency": concurrency,
        "outcomes": dict(counts),
        "warmup_outcomes": dict(warm),
        "seconds": elapsed,
        "cpu_s": cpu,
        "items_per_s": items / elapsed,
        "cpu_us_per_item": cpu / items * 1e6,
        "client_cpu_share": cpu / elapsed,
        "server_cpu_share": None if server_cpu is None else server_cpu / elapsed,
        "other_processes_cpu_share": max(0.0, others / elapsed),
        # ru_maxrss and statm round differently: a peak at the baseline can read a few KiB under.
        "peak_growth_mib": max(0.0, (peak - baseline) / mib),
    }


async def rate_limited(
    *, told: bool, items: int, per_second: float, burst: int, concurrency: int
) -> dict[str, Any]:
    """Bulk-send ``items`` against an emulator limited to ``per_second``; time it, count 429s.

    The emulator runs on this process's event loop: at a few hundred requests per second it
    needs a few percent of the loop, and its counters are then read directly.
    """
    from yourgpt_async import AsyncClient, RateLimit
    from yourgpt_async.testing import Emulator, EmulatorRateLimit

    limit = EmulatorRateLimit(per_second=per_second, burst=burst)
    async with Emulator(rate_limit=limit) as emulator:
        rate_limit = RateLimit(per_second=per_second) if told else RateLimit()
        async with AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            rate_limit=rate_limit,
        ) as client:
            session = await client.create_session()
            await asyncio.sleep(burst / per_second)  # refill the bucket the session took from
            emulator.reset()
            started = time.perf_counter()
            counts = await send_bulk(
                client, _items(items, session.session_uid), concurrency=concurrency
            )
            elapsed = time.perf_counter() - started
        total = emulator.request_count()
        throttled = emulator.count_status(429)
        delivered = len(emulator.ledger)
    ideal = items / per_second
    return {
        "told": told,
        "items": items,
        "per_second": per_second,
        "burst": burst,
        "concurrency": concurrency,
        "method": "send_many" if has_send_many() else "send_message workers",
        "outcomes": dict(counts),
        "seconds": elapsed,
        "ideal_seconds": ideal,
        "time_ratio": elapsed / ideal,
        "requests": total,
        "throttled": throttled,
        "throttled_share": throttled / total if total else 0.0,
        "delivered": delivered,
    }


def main(argv: list[str] | None = None) -> None:
    """Run one scenario and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._scenarios")
    commands = parser.add_subparsers(dest="scenario", required=True)
    bulk = commands.add_parser("bulk-memory")
    bulk.add_argument("--base-url", required=True)
    bulk.add_argument("--items", type=int, default=1_000_000)
    bulk.add_argument("--concurrency", type=int, default=64)
    throughput = commands.add_parser("bulk-throughput")
    throughput.add_argument("variant", choices=sorted(BULK_VARIANTS))
    throughput.add_argument("--base-url", required=True)
    throughput.add_argument("--items", type=int, default=20_000)
    throughput.add_argument("--concurrency", type=int, default=64)
    throughput.add_argument("--warmup-items", type=int, default=2000)
    throughput.add_argument("--server-pid", type=int)
    throughput.add_argument("--profile", metavar="PATH", help="dump cProfile stats of the send")
    paced = commands.add_parser("rate-limited")
    told = paced.add_mutually_exclusive_group(required=True)
    told.add_argument("--told", action="store_true")
    told.add_argument("--not-told", dest="told", action="store_false")
    paced.add_argument("--items", type=int, default=2000)
    paced.add_argument("--per-second", type=float, default=200.0)
    paced.add_argument("--burst", type=int, default=20)
    paced.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    if args.scenario == "bulk-memory":
        result = asyncio.run(
            bulk_memory(base_url=args.base_url, items=args.items, concurrency=args.concurrency)
        )
    elif args.scenario == "bulk-throughput":
        result = asyncio.run(
            bulk_throughput(
                variant=args.variant,
                base_url=args.base_url,
                items=args.items,
                concurrency=args.concurrency,
                warmup_items=args.warmup_items,
                server_pid=args.server_pid,
                profile=args.profile,
            )
        )
    else:
        result = asyncio.run(
            rate_limited(
                told=args.told,
                items=args.items,
                per_second=args.per_second,
                burst=args.burst,
                concurrency=args.concurrency,
            )
        )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

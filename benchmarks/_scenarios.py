"""The bulk scenarios, each run in a fresh process: memory of a huge send, and pacing.

``python -m benchmarks._scenarios bulk-memory --base-url URL --items N`` sends N generated
items through ``AsyncClient.send_many`` and reports the peak RSS growth; ``python -m
benchmarks._scenarios rate-limited --told|--not-told`` runs a bulk send against an emulator
that enforces a rate limit. Each prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from ._clients import API_KEY, SESSION_UID, WIDGET_UID

__all__ = ["bulk_memory", "has_send_many", "rate_limited", "send_bulk"]

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
        return {"skipped": "AsyncClient has no send_many yet (yourgpt_async/_bulk.py)"}
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

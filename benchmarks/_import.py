"""A training import's memory: ``train import``'s path over a 200,000-row CSV of FAQs.

The rows are written to a CSV file, read lazily by the command line's reader
(``ItemFile`` with the training kind, ``check()`` first, as the command does), and added with
``project.training.add_many`` under a journal, against the fast canned-reply server, at
concurrency 64 with the client's default (adaptive) rate limit, as ``bulk-memory`` sends
messages. Reported: the peak RSS growth over a warmed-up client (``ru_maxrss``, the kernel's
high-water mark), samples of the RSS through the run, the rows per second and the journal's
size. The target is the one ``send_many``'s memory has: a peak growth under 50 MB, flat in the
number of rows.

``python -m benchmarks._import --base-url URL --items N`` prints one JSON line; ``run_import``
(``python -m benchmarks --only import``) runs it in a fresh process beside ``send_many``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gc
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._scenarios import _peak_rss_bytes, _rss_bytes, _RssSampler

__all__ = ["TARGET_MB", "import_memory", "import_table", "import_targets", "run_import"]

TOKEN = "api-v1-benchmark-token"
PROJECT_UID = "a1b2c3d4-0000-4000-8000-000000000001"
CONCURRENCY = 64
TARGET_MB = 50.0
_MB = 1_000_000


def _write_rows(path: Path, rows: int, start: int = 0) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["question", "answer", "tags"])
        for n in range(start, start + rows):
            writer.writerow(
                [f"Do you ship order {n} to Norway?", f"Yes, order {n} ships in 3-5 days.", "faq"]
            )


async def _import(training: Any, path: Path, journal: Path) -> tuple[Counter[str], int]:
    """Add every row of ``path`` as ``train import`` does; the outcomes by status, and the
    rows ``check()`` counted."""
    from yourgpt_async.bulk import ItemFile
    from yourgpt_async.platform._training import TRAINING_ITEMS

    source: ItemFile[Any] = ItemFile(path, kind=TRAINING_ITEMS)
    total = source.check()
    counts: Counter[str] = Counter()
    async with training.add_many(source, journal=journal, concurrency=CONCURRENCY) as run:
        async for outcome in run:
            counts[outcome.status] += 1
    return counts, total


async def import_memory(*, base_url: str, items: int, warmup_items: int = 2000) -> dict[str, Any]:
    """Import ``items`` generated FAQ rows from a CSV file; measure the RSS growth."""
    from yourgpt_async import AsyncPlatformClient

    with tempfile.TemporaryDirectory(prefix="yourgpt-import-") as folder:
        work = Path(folder)
        _write_rows(work / "warm.csv", warmup_items)
        _write_rows(work / "faqs.csv", items, start=warmup_items)
        async with AsyncPlatformClient(TOKEN, base_url=base_url, max_concurrency=CONCURRENCY) as yp:
            training = yp.project(PROJECT_UID).training
            warm, _ = await _import(training, work / "warm.csv", work / "warm.csv.journal")
            gc.collect()
            baseline = _rss_bytes()
            sampler = _RssSampler(interval=0.5)
            sampler.start()
            started = time.perf_counter()
            counts, total = await _import(training, work / "faqs.csv", work / "faqs.csv.journal")
            elapsed = time.perf_counter() - started
            sampler.stop()
            peak, end = _peak_rss_bytes(), _rss_bytes()
        journal_bytes = (work / "faqs.csv.journal").stat().st_size
    mib = 1024 * 1024
    return {
        "items": items,
        "rows_checked": total,
        "concurrency": CONCURRENCY,
        "method": "training.add_many (train import's reader, journalled)",
        "outcomes": dict(counts),
        "warmup_outcomes": dict(warm),
        "seconds": elapsed,
        "items_per_s": items / elapsed,
        "baseline_rss_mib": baseline / mib,
        # ru_maxrss and statm round differently: a peak at the baseline can read a few KiB under.
        "peak_growth_mib": max(0.0, (peak - baseline) / mib),
        "end_growth_mib": (end - baseline) / mib,
        "journal_mb": journal_bytes / _MB,
        "rss_samples": [
            (round(t, 2), round((rss - baseline) / mib, 2)) for t, rss in sampler.samples
        ],
    }


def run_import(
    args: argparse.Namespace,
    log: Callable[[str], None],
    run_json: Callable[..., dict[str, Any]],
    server: Callable[[Any], contextlib.AbstractContextManager[tuple[str, int]]],
    cpus: tuple[Any, Any],
) -> dict[str, Any]:
    """The import's memory, in a fresh process per round, against the fast server."""
    client_cpus, server_cpus = cpus
    runs = []
    with server(server_cpus) as (base_url, _):
        for round_number in range(args.bulk_rounds):
            result = run_json(
                "benchmarks._import",
                "--base-url",
                base_url,
                "--items",
                str(args.import_items),
                cpus=client_cpus,
                timeout=3600,
            )
            result["round"] = round_number
            runs.append(result)
            log(
                f"  round {round_number + 1} {args.import_items:,} rows: peak RSS growth "
                f"{result['peak_growth_mib'] * 1024 * 1024 / _MB:.1f} MB, "
                f"{result['items_per_s']:.0f} rows/s, {result['outcomes']}"
            )
    growths = sorted(r["peak_growth_mib"] * 1024 * 1024 / _MB for r in runs)
    return {
        "runs": runs,
        "items": args.import_items,
        "peak_growth_mb": growths[len(growths) // 2],
        "items_per_s": sorted(r["items_per_s"] for r in runs)[len(runs) // 2],
    }


def import_table(result: dict[str, Any]) -> list[str]:
    """The import's line of the table, under ``send_many``'s."""
    return [
        f"train import (training.add_many from a CSV, journalled), {result['items']:,} rows, "
        f"concurrency {CONCURRENCY}: peak RSS growth {result['peak_growth_mb']:.1f} MB, "
        f"{result['items_per_s']:.0f} rows/s"
    ]


def import_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The import's memory target, as ``send_many``'s."""
    growth = result["peak_growth_mb"]
    return [
        {
            "target": f"train import peak RSS growth for {result['items']:,} rows "
            f"< {TARGET_MB:.0f} MB",
            "measured": f"{growth:.1f} MB",
            "met": growth < TARGET_MB,
        }
    ]


def main(argv: list[str] | None = None) -> None:
    """Run one import and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._import")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--items", type=int, default=200_000)
    args = parser.parse_args(argv)
    result = asyncio.run(import_memory(base_url=args.base_url, items=args.items))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

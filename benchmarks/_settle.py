"""Reconciling in-doubt sends: the issue's fault mix, with and without ``reconcile=True``.

Against the emulator (in the client's process, no rate limit), sendMessage requests meet a fixed
fault mix by their number n, 1-based: every 10th is dropped after the message is stored, every
15th other answers 500 after storing, every 7th other is dropped before storing (of the first
300 requests: 30 + 10 stored and unanswered, 37 lost). Two workloads:

- ``sends``: 300 ``send_message`` calls at once over 30 sessions (the client's gate keeps 64 in
  flight);
- ``bulk``: a 10,000-item ``send_many`` over 1,000 sessions (10 messages each), concurrency 64.

Reported per run: calls ending in DeliveryUnknownError or InDoubt (and how many of those were
in fact stored), other failures, duplicates (messages stored more than once), messages lost
(reported sent but not stored), the read-back requests, and the run time.

``python -m benchmarks._settle sends|bulk [--reconcile] [--settle S]`` prints one JSON line;
``run_settle`` (``python -m benchmarks --only settle``) runs both, with and without, in rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["fault_for", "run_settle", "settle_table", "settle_targets"]

SENDS, SENDS_SESSIONS = 300, 30
BULK_ITEMS, BULK_SESSIONS = 10_000, 1_000
CONCURRENCY = 64


def fault_for(n: int) -> str | None:
    """The fault the n-th sendMessage request meets (1-based), by the issue's mix."""
    if n % 10 == 0:
        return "drop_after"
    if n % 15 == 0:
        return "500_after"
    if n % 7 == 0:
        return "drop_before"
    return None


def _plan(emulator: Any, requests: int) -> None:
    from yourgpt_async.testing import Fault

    faults = {
        None: None,
        "drop_after": Fault.drop_after(),
        "500_after": Fault.status_after(500),
        "drop_before": Fault.drop_before(),
    }
    emulator.fault_plan.add("sendMessage", *(faults[fault_for(n)] for n in range(1, requests + 1)))


async def _sends(client: Any, uids: list[str], results: Counter[str], stored_if: Any) -> None:
    from yourgpt_async import DeliveryUnknownError, YourGPTError

    async def one(n: int) -> None:
        text = f"message {n}"
        try:
            await client.send_message(uids[n % len(uids)], text)
            results["returned"] += 1
        except DeliveryUnknownError:
            results["unknown"] += 1
            stored_if[text] = "unknown"
        except YourGPTError:
            results["failed"] += 1
            stored_if[text] = "failed"

    await asyncio.gather(*(one(n) for n in range(SENDS)))


async def _bulk(client: Any, uids: list[str], results: Counter[str], stored_if: Any) -> None:
    items = ((uids[n % len(uids)], f"message {n}") for n in range(BULK_ITEMS))
    async with client.send_many(items, concurrency=CONCURRENCY) as run:
        async for outcome in run:
            kind = type(outcome).__name__
            results[kind] += 1
            if kind != "Sent":
                stored_if[outcome.item.message] = kind
    summary = run.summary()
    results["settled"] = summary.settled
    results["read_backs_counted"] = summary.read_backs


async def settle_run(workload: str, *, reconcile: bool, settle: float) -> dict[str, Any]:
    """One run of ``workload`` (``sends`` or ``bulk``); its figures."""
    from yourgpt_async import AsyncClient, RateLimit, RetryPolicy
    from yourgpt_async.testing import Emulator

    count, sessions = (
        (SENDS, SENDS_SESSIONS) if workload == "sends" else (BULK_ITEMS, BULK_SESSIONS)
    )
    retry = RetryPolicy(reconcile=True, settle=settle) if reconcile else RetryPolicy()
    results: Counter[str] = Counter()
    stored_if: dict[str, str] = {}
    async with Emulator() as emulator:
        async with AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=retry,
            rate_limit=RateLimit.unlimited(),
            max_concurrency=CONCURRENCY,
        ) as client:
            uids = [(await client.create_session()).session_uid for _ in range(sessions)]
            emulator.reset()
            _plan(emulator, 3 * count)
            started = time.perf_counter()
            await (_sends if workload == "sends" else _bulk)(client, uids, results, stored_if)
            elapsed = time.perf_counter() - started
        stored = Counter(entry.message for entry in emulator.ledger)
        sent = emulator.request_count("sendMessage")
        read_backs = emulator.request_count("getSessionMessages")
    unsure = [text for text, how in stored_if.items() if how in ("unknown", "InDoubt")]
    failed = [text for text, how in stored_if.items() if how in ("failed", "Failed")]
    return {
        "workload": workload,
        "reconcile": reconcile,
        "settle": settle if reconcile else None,
        "calls": count,
        "sessions": sessions,
        "outcomes": dict(results),
        "in_doubt": len(unsure),
        "in_doubt_stored": sum(1 for text in unsure if stored[text]),
        "failed": len(failed),
        "failed_but_stored": sum(1 for text in failed if stored[text]),
        "duplicates": sum(n - 1 for n in stored.values() if n > 1),
        # reported sent (returned, or Sent) but never stored
        "lost": sum(
            1
            for n in range(count)
            if f"message {n}" not in stored_if and not stored[f"message {n}"]
        ),
        "send_requests": sent,
        "read_back_requests": read_backs,
        "seconds": elapsed,
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def run_settle(
    args: argparse.Namespace,
    log: Callable[[str], None],
    run_json: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """Both workloads, without and with reconciling, ``args.rate_rounds`` rounds each."""
    log("Reconciling in-doubt sends under the fault mix of drop-after, 500-after, drop-before")
    runs: list[dict[str, Any]] = []
    for round_number in range(args.rate_rounds):
        for workload in ("sends", "bulk"):
            for reconcile in (False, True):
                flags = ["--reconcile", "--settle", str(args.settle)] if reconcile else []
                result = run_json("benchmarks._settle", workload, *flags, cpus=None, timeout=900)
                result["round"] = round_number
                runs.append(result)
                log(
                    f"  round {round_number + 1} {workload:<5} "
                    f"{'reconcile' if reconcile else 'default  '}: in doubt {result['in_doubt']} "
                    f"({result['in_doubt_stored']} stored), failed {result['failed']}, "
                    f"duplicates {result['duplicates']}, lost {result['lost']}, read-backs "
                    f"{result['read_back_requests']}, {result['seconds']:.2f} s"
                )
    summary: dict[str, dict[str, float]] = {}
    for workload in ("sends", "bulk"):
        for reconcile in (False, True):
            mine = [r for r in runs if r["workload"] == workload and r["reconcile"] is reconcile]
            summary[f"{workload}/{'reconcile' if reconcile else 'default'}"] = {
                key: _median([float(r[key]) for r in mine])
                for key in (
                    "in_doubt",
                    "in_doubt_stored",
                    "failed",
                    "duplicates",
                    "lost",
                    "send_requests",
                    "read_back_requests",
                    "seconds",
                )
            }
    return {"runs": runs, "settle": args.settle, "summary": summary}


def settle_table(settle: dict[str, Any]) -> list[str]:
    """The scenario's lines of the printed report."""
    lines = [
        "",
        f"Reconciling in-doubt sends (issue fault mix; reconcile settle={settle['settle']:g} s): "
        f"{SENDS} sends over {SENDS_SESSIONS} sessions, and send_many of {BULK_ITEMS:,} items "
        f"over {BULK_SESSIONS:,} sessions",
        f"  {'run':<18} {'in doubt':>9} {'(stored)':>9} {'failed':>7} {'dupes':>6} {'lost':>5} "
        f"{'requests':>9} {'read-backs':>11} {'seconds':>8}",
    ]
    for name, row in settle["summary"].items():
        lines.append(
            f"  {name:<18} {row['in_doubt']:>9.0f} {row['in_doubt_stored']:>9.0f} "
            f"{row['failed']:>7.0f} {row['duplicates']:>6.0f} {row['lost']:>5.0f} "
            f"{row['send_requests']:>9.0f} {row['read_back_requests']:>11.0f} "
            f"{row['seconds']:>8.2f}"
        )
    return lines


def settle_targets(settle: dict[str, Any]) -> list[dict[str, Any]]:
    """With reconciling: no call left in doubt, no duplicate, nothing reported sent and lost."""
    targets = []
    for workload in ("sends", "bulk"):
        row = settle["summary"][f"{workload}/reconcile"]
        for key, what in (
            ("in_doubt", "DeliveryUnknownError/InDoubt"),
            ("duplicates", "duplicates"),
            ("lost", "reported sent but not stored"),
        ):
            targets.append(
                {
                    "target": f"reconcile, {workload}: {what} = 0",
                    "measured": f"{row[key]:.0f}",
                    "met": row[key] == 0,
                }
            )
    return targets


def main(argv: list[str] | None = None) -> None:
    """Run one workload and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._settle")
    parser.add_argument("workload", choices=("sends", "bulk"))
    parser.add_argument("--reconcile", action="store_true")
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args(argv)
    result = asyncio.run(settle_run(args.workload, reconcile=args.reconcile, settle=args.settle))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

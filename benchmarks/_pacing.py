"""The pacing matrix: N concurrent sends at a limit of R/s, against each kind of server.

Each row is one kind of server the emulator plays (a token bucket answering 429 with a
whole-second ``Retry-After``, with an exact ``retry-after-ms``, with a bare HTML 429; fixed
windows; fixed windows that send ``X-RateLimit-*`` headers; ...), measured twice: with the
client's default ``RateLimit()`` (not told the limit) and told it. Every row runs in a fresh
process: ``python -m benchmarks._pacing ROW --told|--not-told`` prints one JSON line.

Reported per run: the time ÷ the ideal N / R, the 429s (count and share of requests), the
share of the run the client spent paused by cool-downs, failed calls and messages delivered
more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["ROWS", "pacing_row", "run_pacing", "table_lines", "targets"]

# name: (label, EmulatorRateLimit keywords besides the rate and burst, the not-told target)
ROWS: dict[str, tuple[str, dict[str, Any], float]] = {
    "bucket-seconds": ("token bucket, Retry-After: whole seconds", {}, 1.15),
    "bucket-ms": ("token bucket, retry-after-ms", {"retry_after": "ms"}, 1.05),
    "bucket-none": ("token bucket, HTML 429, no Retry-After", {"retry_after": "none"}, 1.05),
    "fixed-window": ("fixed 1 s windows, whole seconds", {"kind": "fixed_window"}, 1.15),
    "headers": (
        "fixed 1 s windows + X-RateLimit-*",
        {"kind": "fixed_window", "headers": "x-ratelimit"},
        1.05,
    ),
    "sliding-window": ("sliding 1 s window, whole seconds", {"kind": "sliding_window"}, 1.15),
    "ietf-headers": (
        "token bucket + RateLimit, RateLimit-Policy",
        {"headers": "ratelimit-policy"},
        1.05,
    ),
}
"""The rows: the issue's five, then a sliding window and a bucket sending the IETF headers."""
TOLD_TARGET = 1.03
HEADERS_THROTTLED_TARGET = 0.005
THROTTLED_TARGET = 0.02


async def pacing_row(
    *, row: str, told: bool, items: int, per_second: float, burst: int, concurrency: int
) -> dict[str, Any]:
    """Send ``items`` messages at once (``asyncio.gather``) through one default client.

    The emulator runs on this process's event loop (at a few hundred requests per second it
    needs a few percent of it) so that its counters can be read directly. Told the limit, the
    client gets ``RateLimit(per_second=R, burst=B)`` for a bucket and ``RateLimit(per_second=R)``
    for windows (whose allowance comes at once, not as a burst on top of the rate).
    """
    from yourgpt_async import AsyncClient, RateLimit
    from yourgpt_async.testing import Emulator, EmulatorRateLimit

    _, options, _ = ROWS[row]
    limit = EmulatorRateLimit(per_second, burst, **options)
    windowed = limit.kind != "token_bucket"
    if told:
        rate_limit = RateLimit(per_second=per_second, burst=None if windowed else burst)
    else:
        rate_limit = RateLimit()
    async with Emulator(rate_limit=limit) as emulator:
        async with AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            rate_limit=rate_limit,
            max_concurrency=concurrency,
        ) as client:
            session = await client.create_session()
            await asyncio.sleep(max(burst / per_second, limit.window) + 0.05)  # refill
            emulator.reset()
            paused_before = _paused(client.limiter)
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(client.send_message(session.session_uid, f"m{n}") for n in range(items)),
                return_exceptions=True,
            )
            elapsed = time.perf_counter() - started
            paused = _paused(client.limiter)
        counts = Counter(
            type(o).__name__ if isinstance(o, BaseException) else "Sent" for o in outcomes
        )
        figures = _figures(emulator, items=items, per_second=per_second, elapsed=elapsed)
    paused_share = None if paused is None else (paused - (paused_before or 0.0)) / elapsed
    return {
        "row": row,
        "told": told,
        "items": items,
        "per_second": per_second,
        "burst": burst,
        "concurrency": concurrency,
        "outcomes": dict(counts),
        "seconds": elapsed,
        "paused_share": paused_share,
        **figures,
    }


def _figures(emulator: Any, *, items: int, per_second: float, elapsed: float) -> dict[str, Any]:
    """What the emulator saw: requests, 429s, and messages delivered (once or more)."""
    total = emulator.request_count()
    throttled = emulator.count_status(429)
    delivered = Counter(entry.message for entry in emulator.ledger)
    ideal = items / per_second
    return {
        "ideal_seconds": ideal,
        "time_ratio": elapsed / ideal,
        "requests": total,
        "throttled": throttled,
        "throttled_share": throttled / total if total else 0.0,
        "delivered": len(delivered),
        "duplicates": sum(count - 1 for count in delivered.values() if count > 1),
    }


def _paused(limiter: Any) -> float | None:
    """Seconds of cool-down the limiter imposed so far (``None`` if it does not say)."""
    value = getattr(limiter, "paused_seconds", None)
    return float(value) if value is not None else None


# -- the runner's side -----------------------------------------------------------------------


def run_pacing(
    args: argparse.Namespace,
    run_json: Callable[..., dict[str, Any]],
    cpus: set[int] | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Run every row, not told then told, ``args.pacing_rounds`` times (each in a fresh process)."""
    rows = [row for row in (args.pacing_rows or ",".join(ROWS)).split(",") if row]
    runs: list[dict[str, Any]] = []
    for round_number in range(args.pacing_rounds):
        for row in rows:
            for told in (False, True):
                result = run_json(
                    "benchmarks._pacing",
                    row,
                    "--told" if told else "--not-told",
                    "--items",
                    str(args.rate_items),
                    "--per-second",
                    str(args.rate),
                    "--burst",
                    str(args.rate_burst),
                    cpus=cpus,
                    timeout=900,
                )
                result["round"] = round_number
                runs.append(result)
                log("  " + _line(result))
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        for told in (False, True):
            mine = [r for r in runs if r["row"] == row and r["told"] is told]
            summary.setdefault(row, {})["told" if told else "not_told"] = {
                key: statistics.median(r[key] for r in mine)
                for key in ("seconds", "time_ratio", "throttled", "throttled_share", "requests")
            } | {
                "paused_share": _median_or_none([r["paused_share"] for r in mine]),
                "failed": max(
                    sum(v for k, v in r["outcomes"].items() if k != "Sent") for r in mine
                ),
                "duplicates": max(r["duplicates"] for r in mine),
            }
    return {
        "runs": runs,
        "items": args.rate_items,
        "per_second": args.rate,
        "burst": args.rate_burst,
        "rounds": args.pacing_rounds,
        "summary": summary,
    }


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _line(result: dict[str, Any]) -> str:
    paused = result["paused_share"]
    return (
        f"{ROWS[result['row']][0]:<44} {'told    ' if result['told'] else 'not told'} "
        f"{result['seconds']:6.2f} s = {result['time_ratio']:.3f} x N/R, "
        f"429s {result['throttled']} of {result['requests']} ({result['throttled_share']:.2%}), "
        f"paused {'n/a' if paused is None else f'{paused:.1%}'}, {result['outcomes']}"
    )


def table_lines(pacing: dict[str, Any]) -> list[str]:
    """The matrix as printed by ``python -m benchmarks``."""
    lines = [
        f"Pacing matrix: N={pacing['items']} concurrent send_message calls, R="
        f"{pacing['per_second']:.0f}/s (bucket burst {pacing['burst']}), N/R = "
        f"{pacing['items'] / pacing['per_second']:.1f} s; default RateLimit() (not told) and "
        "told the limit"
    ]
    header = (
        f"  {'server':<44} {'':<8} {'time/ideal':>10} {'429s':>6} {'429 %':>7} {'paused':>7} "
        f"{'failed':>6}"
    )
    lines += [header, "  " + "-" * (len(header) - 2)]
    for row, by_told in pacing["summary"].items():
        for key in ("not_told", "told"):
            cell = by_told[key]
            paused = cell["paused_share"]
            lines.append(
                f"  {ROWS[row][0]:<44} {key.replace('_', ' '):<8} {cell['time_ratio']:10.3f} "
                f"{cell['throttled']:6.0f} {cell['throttled_share']:7.2%} "
                f"{'n/a' if paused is None else f'{paused:.1%}':>7} {cell['failed']:6d}"
            )
    return lines


def targets(pacing: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for every row measured."""
    found: list[dict[str, Any]] = []
    for row, by_told in pacing["summary"].items():
        label, _, limit = ROWS[row]
        not_told, told = by_told["not_told"], by_told["told"]
        found.append(_target(f"{label}, not told: time <= {limit:.2f} x N/R", not_told, limit))
        if row == "headers":
            share = not_told["throttled_share"]
            found.append(
                {
                    "target": f"{label}, not told: <= 0.5 % 429s",
                    "measured": f"{share:.2%}",
                    "met": share <= HEADERS_THROTTLED_TARGET,
                }
            )
        found.append(_target(f"{label}, told: time <= {TOLD_TARGET} x N/R", told, TOLD_TARGET))
        found.append(
            {
                "target": f"{label}, told: at most one 429",
                "measured": f"{told['throttled']:.0f}",
                "met": told["throttled"] <= 1,
            }
        )
        worst = max(not_told["throttled_share"], told["throttled_share"])
        found.append(
            {
                "target": f"{label}: <= 2 % 429s, nothing failed or delivered twice",
                "measured": f"{worst:.2%}, {not_told['failed'] + told['failed']} failed, "
                f"{not_told['duplicates'] + told['duplicates']} twice",
                "met": worst <= THROTTLED_TARGET
                and not (not_told["failed"] or told["failed"])
                and not (not_told["duplicates"] or told["duplicates"]),
            }
        )
    return found


def _target(name: str, cell: dict[str, Any], limit: float) -> dict[str, Any]:
    return {
        "target": name,
        "measured": f"{cell['time_ratio']:.3f} x",
        "met": cell["time_ratio"] <= limit,
    }


def main(argv: list[str] | None = None) -> None:
    """Run one row and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._pacing")
    parser.add_argument("row", choices=sorted(ROWS))
    told = parser.add_mutually_exclusive_group(required=True)
    told.add_argument("--told", action="store_true")
    told.add_argument("--not-told", dest="told", action="store_false")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--per-second", type=float, default=200.0)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    result = asyncio.run(
        pacing_row(
            row=args.row,
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

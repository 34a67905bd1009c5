"""A real nginx ``limit_req`` gateway: N concurrent sends through nginx at R/s, burst B.

The emulator's own rate limits are the SDK's idea of a server; this is one it did not write.
Debian's nginx runs as a rate-limiting reverse proxy (``limit_req`` at R requests a second,
``burst=B nodelay``: what exceeds the burst is refused at once, not queued) in front of an
emulator with no limit of its own, from ``tests/nginx_fixtures.py``. Two ways of refusing:

- ``retry-after``: a JSON 429 with ``Retry-After: 1``, whole seconds, as gateways send it;
- ``bare``: nginx's own HTML 429 page, with no ``Retry-After``.

Each run is a fresh process, ``python -m benchmarks.nginx_gateway --run REFUSAL``, which prints
one JSON line: N ``send_message`` calls started at once (``asyncio.gather``) through one client
with the default ``RateLimit()`` (not told the limit). ``python -m benchmarks.nginx_gateway``
runs every refusal style ``--rounds`` times and prints the table and the targets; ``python -m
benchmarks --only nginx`` does the same inside the benchmark runner.

Reported per run: the time ÷ the ideal (N − B) / R (the burst is free), the requests that reached
nginx and the 429s it answered (each counted by nginx itself, in its error log, and by the
client's ``on_response`` hook), the 429s the limiter was told of, failed calls, and messages
delivered more than once (from the emulator's ledger).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "REFUSALS",
    "gateway_run",
    "nginx_table",
    "nginx_targets",
    "refusal_list",
    "run_nginx",
]

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

# refusal: (label, time target, 429-share target or None)
REFUSALS: dict[str, tuple[str, float, float | None]] = {
    "retry-after": ("nginx limit_req, JSON 429, Retry-After: 1", 1.15, 0.02),
    "bare": ("nginx limit_req, bare HTML 429", 1.10, None),
}
_REJECTED = "limiting requests"  # how nginx's error log notes each request limit_req refused
SKIPPED = "skipped: nginx is not installed (apt-get install nginx-light)"


def _fixtures() -> Any:
    """``tests/nginx_fixtures.py``, imported with the tests' directory on ``sys.path``."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import nginx_fixtures

    return nginx_fixtures


def nginx_installed() -> bool:
    """Whether an nginx binary is installed."""
    return _fixtures().find_nginx() is not None


def _rejections(log: Path) -> int:
    if not log.exists():
        return 0
    text = log.read_text(encoding="utf-8", errors="replace")
    return sum(_REJECTED in line for line in text.splitlines())


async def gateway_run(*, refusal: str, items: int, per_second: int, burst: int) -> dict[str, Any]:
    """Send ``items`` messages at once through nginx to an emulator; return the figures."""
    from urllib.parse import urlsplit

    from yourgpt_async import AsyncClient, RateLimit
    from yourgpt_async.testing import Emulator

    fixtures = _fixtures()
    binary = fixtures.find_nginx()
    if binary is None:
        raise SystemExit(SKIPPED)
    statuses: Counter[int | None] = Counter()
    counting = False

    def on_response(event: Any) -> None:
        if counting and event.endpoint == "sendMessage":
            statuses[event.status] += 1

    async with Emulator() as emulator:
        upstream = urlsplit(emulator.base_url)
        with (
            tempfile.TemporaryDirectory() as directory,
            fixtures.NginxGateway(
                binary,
                Path(directory),
                f"{upstream.hostname}:{upstream.port}",
                rate=per_second,
                burst=burst,
                refusal=refusal,
            ) as gateway,
        ):
            log = Path(directory) / "error.log"
            async with AsyncClient(
                emulator.api_key,
                widget_uid=emulator.widget_uid,
                base_url=gateway.url + upstream.path,
                rate_limit=RateLimit(),
                on_response=on_response,
            ) as client:
                session = await client.create_session()
                await asyncio.sleep(burst / per_second + 0.05)  # the burst refills
                emulator.reset()
                rejected_before = _rejections(log)
                limiter = client.limiter
                throttled_before = getattr(limiter, "throttled", 0)
                counting = True
                started = time.perf_counter()
                outcomes = await asyncio.gather(
                    *(client.send_message(session.session_uid, f"m{n}") for n in range(items)),
                    return_exceptions=True,
                )
                elapsed = time.perf_counter() - started
                counting = False
                limiter_throttled = getattr(limiter, "throttled", None)
            rejected = _rejections(log) - rejected_before
        forwarded = emulator.request_count("sendMessage")
        delivered = Counter(entry.message for entry in emulator.ledger)
    counts = Counter(type(o).__name__ if isinstance(o, BaseException) else "Sent" for o in outcomes)
    requests = forwarded + rejected
    ideal = (items - burst) / per_second
    return {
        "refusal": refusal,
        "items": items,
        "per_second": per_second,
        "burst": burst,
        "outcomes": dict(counts),
        "failed": sum(v for k, v in counts.items() if k != "Sent"),
        "seconds": elapsed,
        "ideal_seconds": ideal,
        "time_ratio": elapsed / ideal,
        "requests": requests,  # reached nginx: forwarded to the emulator, or refused
        "throttled": rejected,  # refused by nginx, from its error log
        "throttled_share": rejected / requests if requests else 0.0,
        "client_attempts": sum(statuses.values()),
        "client_429s": statuses.get(429, 0),
        "limiter_throttled": (
            None if limiter_throttled is None else limiter_throttled - throttled_before
        ),
        "delivered": len(delivered),
        "duplicates": sum(count - 1 for count in delivered.values() if count > 1),
    }


# -- the runs, the table, the targets ----------------------------------------------------------


def _run_json(module: str, *args: str, cpus: set[int] | None, timeout: float) -> dict[str, Any]:
    """Run ``python -m module args`` and return the JSON line it prints last."""
    del cpus  # this module's own runs are not pinned (nor are the runner's, see run_nginx)
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run_nginx(
    *,
    refusals: list[str],
    items: int,
    per_second: int,
    burst: int,
    rounds: int,
    run_json: Callable[..., dict[str, Any]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every refusal style ``rounds`` times, each run in a fresh process; the medians.

    The runs are not pinned to a CPU: nginx, a child of the measured process, would inherit the
    pinning and share the client's core.
    """
    log("nginx limit_req gateway: a JSON 429 with Retry-After: 1, and nginx's bare HTML 429")
    if not nginx_installed():
        log(f"  {SKIPPED}")
        return {"skipped": SKIPPED}
    runs: list[dict[str, Any]] = []
    for round_number in range(rounds):
        for refusal in refusals:
            result = run_json(
                "benchmarks.nginx_gateway",
                "--run",
                refusal,
                "--items",
                str(items),
                "--per-second",
                str(per_second),
                "--burst",
                str(burst),
                cpus=None,
                timeout=900,
            )
            result["round"] = round_number
            runs.append(result)
            log("  " + _line(result))
    summary: dict[str, dict[str, Any]] = {}
    for refusal in refusals:
        mine = [r for r in runs if r["refusal"] == refusal]
        summary[refusal] = {
            key: statistics.median(r[key] for r in mine)
            for key in ("seconds", "time_ratio", "requests", "throttled", "throttled_share")
        } | {
            "failed": max(r["failed"] for r in mine),
            "duplicates": max(r["duplicates"] for r in mine),
            "undelivered": max(items - r["delivered"] for r in mine),
        }
    return {
        "runs": runs,
        "items": items,
        "per_second": per_second,
        "burst": burst,
        "rounds": rounds,
        "summary": summary,
    }


def _line(result: dict[str, Any]) -> str:
    limiter = result["limiter_throttled"]
    return (
        f"{REFUSALS[result['refusal']][0]:<44} {result['seconds']:6.2f} s = "
        f"{result['time_ratio']:.3f} x ideal, 429s {result['throttled']} of "
        f"{result['requests']} ({result['throttled_share']:.2%}; client saw "
        f"{result['client_429s']} of {result['client_attempts']}, limiter "
        f"{'n/a' if limiter is None else limiter}), {result['outcomes']}, "
        f"{result['duplicates']} twice"
    )


def nginx_table(nginx: dict[str, Any]) -> list[str]:
    """The table as printed."""
    if "skipped" in nginx:
        return [f"nginx gateway: {nginx['skipped']}"]
    items, rate, burst = nginx["items"], nginx["per_second"], nginx["burst"]
    lines = [
        f"nginx limit_req gateway: N={items} concurrent send_message calls, R={rate:.0f}/s, "
        f"burst {burst} nodelay, ideal (N - burst)/R = {(items - burst) / rate:.1f} s; "
        f"default RateLimit(); medians of {nginx['rounds']} run(s)"
    ]
    header = (
        f"  {'server':<44} {'time/ideal':>10} {'429s':>6} {'429 %':>7} {'failed':>6} "
        f"{'twice':>6}  target"
    )
    lines += [header, "  " + "-" * (len(header) - 2)]
    for refusal, cell in nginx["summary"].items():
        label = REFUSALS[refusal][0]
        met = all(t["met"] for t in _targets_of(refusal, cell))
        lines.append(
            f"  {label:<44} {cell['time_ratio']:10.3f} {cell['throttled']:6.0f} "
            f"{cell['throttled_share']:7.2%} {cell['failed']:6d} {cell['duplicates']:6d}  "
            f"{_target_text(refusal)}: {'met' if met else 'MISSED'}"
        )
    return lines


def _target_text(refusal: str) -> str:
    _, time_limit, share_limit = REFUSALS[refusal]
    text = f"<= {time_limit:.2f} x"
    if share_limit is not None:
        text += f", <= {share_limit:.0%} 429s"
    return text


def _targets_of(refusal: str, cell: dict[str, Any]) -> list[dict[str, Any]]:
    label, time_limit, share_limit = REFUSALS[refusal]
    found = [
        {
            "target": f"{label}, not told: time <= {time_limit:.2f} x (N - burst)/R",
            "measured": f"{cell['time_ratio']:.3f} x",
            "met": cell["time_ratio"] <= time_limit,
        }
    ]
    if share_limit is not None:
        found.append(
            {
                "target": f"{label}, not told: <= {share_limit:.0%} 429s",
                "measured": f"{cell['throttled_share']:.2%} ({cell['throttled']:.0f})",
                "met": cell["throttled_share"] <= share_limit,
            }
        )
    found.append(
        {
            "target": f"{label}: every message delivered once, no call failed",
            "measured": f"{cell['failed']} failed, {cell['duplicates']} twice, "
            f"{cell['undelivered']} missing",
            "met": not (cell["failed"] or cell["duplicates"] or cell["undelivered"]),
        }
    )
    return found


def nginx_targets(nginx: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets for every refusal style measured (none when skipped)."""
    if "skipped" in nginx:
        return []
    return [t for refusal, cell in nginx["summary"].items() for t in _targets_of(refusal, cell)]


def refusal_list(value: str) -> list[str]:
    """``--refusal``'s (and the runner's ``--nginx-refusals``') comma-separated styles."""
    chosen = [r for r in value.split(",") if r]
    unknown = [r for r in chosen if r not in REFUSALS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"takes a comma-separated list of {', '.join(REFUSALS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Run every refusal style and print the table, or (``--run``) one run as a JSON line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.nginx_gateway",
        description="N concurrent sends through a real nginx limit_req gateway.",
    )
    parser.add_argument("--run", choices=sorted(REFUSALS), help="one run, printed as JSON")
    parser.add_argument("--items", type=int, default=2000, help="N (default 2000)")
    parser.add_argument("--per-second", type=int, default=200, help="R (default 200)")
    parser.add_argument("--burst", type=int, default=20, help="limit_req burst (default 20)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each style (default 1)")
    parser.add_argument(
        "--refusal",
        type=refusal_list,
        default=list(REFUSALS),
        help="comma-separated refusal styles (default: retry-after,bare)",
    )
    args = parser.parse_args(argv)
    if args.run:
        result = asyncio.run(
            gateway_run(
                refusal=args.run, items=args.items, per_second=args.per_second, burst=args.burst
            )
        )
        sys.stdout.write(json.dumps(result) + "\n")
        return 0

    def log(line: str) -> None:
        print(line, flush=True)

    nginx = run_nginx(
        refusals=args.refusal,
        items=args.items,
        per_second=args.per_second,
        burst=args.burst,
        rounds=args.rounds,
        run_json=_run_json,
        log=log,
    )
    if "skipped" in nginx:
        return 0
    print()
    print("\n".join(nginx_table(nginx)))
    print("\nTargets:")
    for target in nginx_targets(nginx):
        mark = "met   " if target["met"] else "MISSED"
        print(f"  [{mark}] {target['target']}: {target['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

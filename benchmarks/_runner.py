"""Runs the scenarios in fresh processes, interleaved and repeated, and reports medians.

Each measured client runs in a process of its own (no warm state shared between variants),
pinned to the first CPU while the server is pinned to the last, so client and server do not
compete for one core. Variants are interleaved (A B C D, B C D A, ...) and each figure is the
median over the rounds; a ratio is the median of the per-round ratios to the floor measured in
the same round.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ._clients import VARIANTS
from ._import import import_table, import_targets, run_import
from ._pacing import ROWS, run_pacing, table_lines
from ._pacing import targets as pacing_targets
from ._settle import run_settle, settle_table, settle_targets
from .nginx_gateway import REFUSALS, nginx_table, nginx_targets, refusal_list, run_nginx

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
CHART = ROOT / "docs" / "assets" / "benchmarks.png"
FLOOR = "aiohttp"
SCENARIOS = (
    "overhead",
    "emulator",
    "bulk-throughput",
    "bulk",
    "import",
    "pacing",
    "settle",
    "nginx",
)
CONCURRENCIES = (1, 64)
BULK_CONCURRENCY = 64
BULK_VARIANTS = ("send-many", "gather")  # A, the SDK; B, what it is held against
MB = 1_000_000

_LABELS = {
    "aiohttp": "raw aiohttp + json (floor)",
    "sdk": "yourgpt-async (defaults)",
    "sdk-unpaced": "yourgpt-async (RateLimit.unlimited())",
    "httpx": "httpx.AsyncClient",
    "aiohttp-retry": "aiohttp-retry RetryClient",
    "send-many": "client.send_many(items, concurrency=64)",
    "gather": "asyncio.gather + Semaphore(64)",
}


def _cpus() -> tuple[set[int] | None, set[int] | None]:
    """CPU sets for (client, server): different cores when there are two or more."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, {cpus[-1]}


def _pin(pid: int, cpus: set[int] | None) -> None:
    if cpus is not None:
        with contextlib.suppress(OSError):  # the process may be gone already
            os.sched_setaffinity(pid, cpus)


def _run_json(module: str, *args: str, cpus: set[int] | None, timeout: float) -> dict[str, Any]:
    """Run ``python -m module args`` on ``cpus`` and return the JSON line it prints last."""
    with subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as process:
        _pin(process.pid, cpus)  # before it has even finished importing
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    if process.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def _server_process(
    command: Sequence[str], cpus: set[int] | None, ready: Callable[[str], str | None]
) -> Iterator[tuple[str, int]]:
    """Start a server process; yield (base URL, pid) once ``ready`` finds the URL in a line."""
    process = subprocess.Popen(
        [sys.executable, *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    _pin(process.pid, cpus)
    try:
        assert process.stdout is not None
        base_url = None
        for line in process.stdout:
            base_url = ready(line)
            if base_url:
                break
        if not base_url:
            raise RuntimeError(f"{' '.join(command)} did not start")
        yield base_url, process.pid
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the fast server stops at end of input
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=2)
        if process.poll() is None:
            process.terminate()  # the emulator stops on SIGTERM
            process.wait(timeout=10)


def fast_server(cpus: set[int] | None) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """The canned-reply server of ``_server.py``."""

    def ready(line: str) -> str | None:
        if line.startswith("PORT "):
            return f"http://127.0.0.1:{int(line.split()[1])}/chatbot/v1"
        return None

    return _server_process(["-m", "benchmarks._server"], cpus, ready)


def emulator_server(cpus: set[int] | None) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """``python -m yourgpt_async.testing`` on a free port."""

    def ready(line: str) -> str | None:
        marker = "serving at "
        if marker in line:
            return line.split(marker, 1)[1].split(maxsplit=1)[0]
        return None

    return _server_process(["-m", "yourgpt_async.testing", "--port", "0"], cpus, ready)


def _create_session(base_url: str, api_key: str, widget_uid: str) -> str:
    request = urllib.request.Request(
        base_url + "/createSession",
        data=json.dumps({"widget_uid": widget_uid}).encode(),
        headers={"api-key": api_key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["data"]["session_uid"])


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _summarise(
    runs: list[dict[str, Any]], key: str, floor: str = FLOOR
) -> dict[str, dict[str, dict[str, float]]]:
    """Per concurrency and variant: the median of ``key`` and of its per-round floor ratio."""
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for concurrency in sorted({run["concurrency"] for run in runs}):
        at = [run for run in runs if run["concurrency"] == concurrency]
        floors = {run["round"]: run[key] for run in at if run["variant"] == floor}
        per_variant: dict[str, dict[str, float]] = {}
        for variant in dict.fromkeys(run["variant"] for run in at):
            mine = [run for run in at if run["variant"] == variant]
            ratios = [run[key] / floors[run["round"]] for run in mine if floors.get(run["round"])]
            per_variant[variant] = {
                "median": _median([run[key] for run in mine]),
                "min": min(run[key] for run in mine),
                "max": max(run[key] for run in mine),
                "ratio": _median(ratios) if ratios else float("nan"),
            }
        summary[str(concurrency)] = per_variant
    return summary


# -- scenarios -------------------------------------------------------------------------------


def run_overhead(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Client CPU per request and requests/s of every variant, at concurrency 1 and 64."""
    client_cpus, server_cpus = _cpus()
    variants = list(args.variants)
    runs: list[dict[str, Any]] = []
    with fast_server(server_cpus) as (base_url, pid):
        for round_number in range(args.rounds):
            shift = round_number % len(variants)
            order = variants[shift:] + variants[:shift]
            for concurrency in CONCURRENCIES:
                for variant in order:
                    result = _run_json(
                        "benchmarks._clients",
                        *_variant_args(variant, args),
                        "--base-url",
                        base_url,
                        "--concurrency",
                        str(concurrency),
                        "--seconds",
                        str(args.seconds),
                        "--server-pid",
                        str(pid),
                        cpus=client_cpus,
                        timeout=120,
                    )
                    result["round"] = round_number
                    runs.append(result)
                    log(
                        f"  round {round_number + 1} c={concurrency:<2} {variant:<14} "
                        f"{result['cpu_us_per_request']:8.1f} us/req  "
                        f"{result['requests_per_s']:8.0f} req/s  "
                        f"server CPU {result['server_cpu_share']:.0%}, "
                        f"other processes {result['other_processes_cpu_share']:.0%}"
                    )
    return {
        "runs": runs,
        "cpu_us_per_request": _summarise(runs, "cpu_us_per_request"),
        "requests_per_s": _summarise(runs, "requests_per_s"),
        "server_cpu_share": _summarise(runs, "server_cpu_share"),
        "client_cpu_share": _summarise(runs, "client_cpu_share"),
        "other_processes_cpu_share": _summarise(runs, "other_processes_cpu_share"),
        "warmup_s": _summarise(runs, "warmup_s"),
    }


BASELINE = "sdk@base"
"""The SDK as it was at ``--baseline REV``, measured in the same run as the current one."""


def _variant_args(variant: str, args: argparse.Namespace) -> list[str]:
    if variant == BASELINE:
        return ["sdk", "--sdk-path", str(args.baseline_dir), "--label", BASELINE]
    return [variant]


@contextlib.contextmanager
def baseline_tree(rev: str | None) -> Iterator[Path | None]:
    """The package as it was at git revision ``rev``, unpacked in a temporary folder."""
    if not rev:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="yourgpt-baseline-") as folder:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev, "yourgpt_async"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


def run_emulator(
    args: argparse.Namespace, floor_rps: dict[str, float], log: Callable[[str], None]
) -> dict[str, Any]:
    """The emulator's throughput, driven by the cheapest client (the floor)."""
    from yourgpt_async.testing import DEFAULT_API_KEY, DEFAULT_WIDGET_UID

    client_cpus, server_cpus = _cpus()
    runs: list[dict[str, Any]] = []
    with emulator_server(server_cpus) as (base_url, pid):
        session_uid = _create_session(base_url, DEFAULT_API_KEY, DEFAULT_WIDGET_UID)
        for round_number in range(args.rate_rounds):
            for concurrency in CONCURRENCIES:
                result = _run_json(
                    "benchmarks._clients",
                    FLOOR,
                    "--base-url",
                    base_url,
                    "--concurrency",
                    str(concurrency),
                    "--seconds",
                    str(args.seconds),
                    "--server-pid",
                    str(pid),
                    "--api-key",
                    DEFAULT_API_KEY,
                    "--widget-uid",
                    DEFAULT_WIDGET_UID,
                    "--session-uid",
                    session_uid,
                    "--warmup-limit",
                    "1",
                    cpus=client_cpus,
                    timeout=120,
                )
                result["round"] = round_number
                runs.append(result)
                log(
                    f"  round {round_number + 1} c={concurrency:<2} emulator "
                    f"{result['requests_per_s']:8.0f} req/s  "
                    f"server {result['server_cpu_us_per_request']:6.0f} us/req, "
                    f"CPU: server {result['server_cpu_share']:.0%}, "
                    f"client {result['client_cpu_share']:.0%}, "
                    f"other processes {result['other_processes_cpu_share']:.0%}"
                )
    summary: dict[str, dict[str, float]] = {}
    for concurrency in CONCURRENCIES:
        at = [run for run in runs if run["concurrency"] == concurrency]
        rps = _median([run["requests_per_s"] for run in at])
        server_us = _median([run["server_cpu_us_per_request"] for run in at])
        summary[str(concurrency)] = {
            "requests_per_s": rps,
            "server_cpu_us_per_request": server_us,
            "capacity_per_core": 1e6 / server_us,
            "server_cpu_share": _median([run["server_cpu_share"] for run in at]),
            "ratio_to_fast_server": rps / floor_rps[str(concurrency)]
            if str(concurrency) in floor_rps
            else float("nan"),
        }
    return {"runs": runs, "summary": summary}


def run_bulk(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """``send_many`` over generated items: peak RSS growth."""
    from ._scenarios import has_send_many

    if not has_send_many():
        note = "skipped: AsyncClient has no send_many yet (yourgpt_async/_bulk/)"
        log(f"  {note}")
        return {"skipped": note}
    client_cpus, server_cpus = _cpus()
    runs = []
    with fast_server(server_cpus) as (base_url, _):
        for round_number in range(args.bulk_rounds):
            result = _run_json(
                "benchmarks._scenarios",
                "bulk-memory",
                "--base-url",
                base_url,
                "--items",
                str(args.bulk_items),
                cpus=client_cpus,
                timeout=3600,
            )
            result["round"] = round_number
            runs.append(result)
            log(
                f"  round {round_number + 1} {args.bulk_items:,} items: peak RSS growth "
                f"{result['peak_growth_mib'] * 1024 * 1024 / MB:.1f} MB, "
                f"{result['items_per_s']:.0f} items/s, {result['outcomes']}"
            )
    return {
        "runs": runs,
        "items": args.bulk_items,
        "peak_growth_mb": _median([r["peak_growth_mib"] * 1024 * 1024 / MB for r in runs]),
        "items_per_s": _median([r["items_per_s"] for r in runs]),
    }


def run_bulk_throughput(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """``send_many`` against ``asyncio.gather`` over ``send_message`` with a semaphore.

    Both on the same client (``RateLimit.unlimited()``, concurrency 64), against the fast
    server; each run in a fresh process, interleaved A B A B ... over ``--rounds`` rounds. The
    ratio is the median of the per-round ratios of send_many's items/s to gather's.
    """
    from ._scenarios import has_send_many

    if not has_send_many():
        note = "skipped: AsyncClient has no send_many yet (yourgpt_async/_bulk/)"
        log(f"  {note}")
        return {"skipped": note}
    client_cpus, server_cpus = _cpus()
    runs: list[dict[str, Any]] = []
    with fast_server(server_cpus) as (base_url, pid):
        for round_number in range(args.rounds):
            for variant in BULK_VARIANTS:
                result = _run_json(
                    "benchmarks._scenarios",
                    "bulk-throughput",
                    variant,
                    "--base-url",
                    base_url,
                    "--items",
                    str(args.bulk_throughput_items),
                    "--concurrency",
                    str(BULK_CONCURRENCY),
                    "--server-pid",
                    str(pid),
                    cpus=client_cpus,
                    timeout=600,
                )
                result["round"] = round_number
                runs.append(result)
                log(
                    f"  round {round_number + 1} {variant:<9} "
                    f"{result['items_per_s']:8.0f} items/s  "
                    f"{result['cpu_us_per_item']:6.1f} us CPU/item  "
                    f"peak RSS +{result['peak_growth_mib'] * 1024 * 1024 / MB:5.1f} MB  "
                    f"server CPU {result['server_cpu_share']:.0%}, "
                    f"other processes {result['other_processes_cpu_share']:.0%}  "
                    f"{result['outcomes']}"
                )
    by_round = {(run["variant"], run["round"]): run for run in runs}

    def paired(key: str) -> float:
        return _median(
            [
                by_round["send-many", r][key] / by_round["gather", r][key]
                for r in range(args.rounds)
                if ("send-many", r) in by_round and ("gather", r) in by_round
            ]
        )

    summary: dict[str, dict[str, float]] = {}
    for variant in BULK_VARIANTS:
        mine = [run for run in runs if run["variant"] == variant]
        summary[variant] = {
            "items_per_s": _median([run["items_per_s"] for run in mine]),
            "items_per_s_min": min(run["items_per_s"] for run in mine),
            "items_per_s_max": max(run["items_per_s"] for run in mine),
            "cpu_us_per_item": _median([run["cpu_us_per_item"] for run in mine]),
            "peak_growth_mb": _median([run["peak_growth_mib"] * 1024 * 1024 / MB for run in mine]),
            "server_cpu_share": _median([run["server_cpu_share"] for run in mine]),
            "other_processes_cpu_share": _median(
                [run["other_processes_cpu_share"] for run in mine]
            ),
        }
    return {
        "runs": runs,
        "items": args.bulk_throughput_items,
        "concurrency": BULK_CONCURRENCY,
        "rounds": args.rounds,
        "summary": summary,
        "throughput_ratio": paired("items_per_s"),
        "cpu_ratio": paired("cpu_us_per_item"),
    }


# -- report ----------------------------------------------------------------------------------


def _paired_ratio(runs: list[dict[str, Any]], concurrency: int, mine: str, theirs: str) -> float:
    """Median over rounds of mine / theirs (CPU per request), each pair from one round."""
    at = {
        (run["variant"], run["round"]): run["cpu_us_per_request"]
        for run in runs
        if run["concurrency"] == concurrency
    }
    rounds = sorted({r for (_, r) in at})
    return _median(
        [at[mine, r] / at[theirs, r] for r in rounds if (mine, r) in at and (theirs, r) in at]
    )


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the figure measured and whether it is met."""
    targets: list[dict[str, Any]] = []
    overhead = results.get("overhead")
    if overhead:
        cpu = overhead["cpu_us_per_request"]
        if "sdk" in cpu.get("64", {}):
            ratio = cpu["64"]["sdk"]["ratio"]
            targets.append(
                {
                    "target": "SDK client CPU/request at c=64 <= 1.15 x raw aiohttp",
                    "measured": f"{ratio:.3f} x",
                    "met": ratio <= 1.15,
                }
            )
        for concurrency, table in cpu.items():
            for sdk in ("sdk", "sdk-unpaced"):
                for peer in ("httpx", "aiohttp-retry"):
                    if sdk in table and peer in table:
                        mine, theirs = table[sdk]["median"], table[peer]["median"]
                        paired = _paired_ratio(overhead["runs"], int(concurrency), sdk, peer)
                        targets.append(
                            {
                                "target": f"{_LABELS[sdk]} cheaper per request than {peer} "
                                f"at c={concurrency}",
                                "measured": f"{mine:.1f} vs {theirs:.1f} us/req, "
                                f"{paired:.3f} x in the same rounds",
                                "met": paired < 1,
                            }
                        )
    throughput = results.get("bulk_throughput")
    if throughput and "throughput_ratio" in throughput:
        ratio = throughput["throughput_ratio"]
        send_many, gather = throughput["summary"]["send-many"], throughput["summary"]["gather"]
        targets.append(
            {
                "target": "send_many throughput >= 0.90 x gather+semaphore",
                "measured": f"{ratio:.3f} x ({send_many['items_per_s']:.0f} vs "
                f"{gather['items_per_s']:.0f} items/s, {throughput['items']:,} items, "
                f"c={throughput['concurrency']}, median of {throughput['rounds']} paired rounds)",
                "met": ratio >= 0.90,
            }
        )
    if results.get("settle"):
        targets += settle_targets(results["settle"])
    bulk = results.get("bulk")
    if bulk and "peak_growth_mb" in bulk:
        targets.append(
            {
                "target": f"send_many peak RSS growth for {bulk['items']:,} items < 50 MB",
                "measured": f"{bulk['peak_growth_mb']:.1f} MB",
                "met": bulk["peak_growth_mb"] < 50,
            }
        )
    if results.get("import"):
        targets += import_targets(results["import"])
    pacing = results.get("pacing")
    if pacing:
        targets += pacing_targets(pacing)
    if results.get("nginx"):
        targets += nginx_targets(results["nginx"])
    return targets


def _table(results: dict[str, Any]) -> str:  # noqa: PLR0912, PLR0915 - one table, row by row
    lines: list[str] = []
    machine = results["machine"]
    lines.append(
        f"Machine: {machine['cpu_count']} cores ({machine['pinning']}), Python "
        f"{machine['python']}, {machine['platform']}. Medians of "
        f"{results['config']['rounds']} interleaved rounds of the clients and "
        f"{results['config']['emulator_and_paced_rounds']} of the emulator and paced runs; "
        "ratio = median of the per-round ratios to the floor."
    )
    overhead = results.get("overhead")
    if overhead:
        lines.append("")
        header = (
            f"{'client':<40} {'c':>3} {'CPU us/req':>11} {'x floor':>8} {'req/s':>9} "
            f"{'x floor':>8} {'server CPU':>10} {'others':>7}"
        )
        lines += [header, "-" * len(header)]
        for concurrency, table in overhead["cpu_us_per_request"].items():
            rps = overhead["requests_per_s"][concurrency]
            server = overhead["server_cpu_share"][concurrency]
            others = overhead["other_processes_cpu_share"][concurrency]
            for variant, cpu in table.items():
                lines.append(
                    f"{_LABELS.get(variant, variant):<40} {concurrency:>3} "
                    f"{cpu['median']:11.1f} {cpu['ratio']:8.3f} {rps[variant]['median']:9.0f} "
                    f"{rps[variant]['ratio']:8.3f} {server[variant]['median']:10.0%} "
                    f"{others[variant]['median']:7.0%}"
                )
    emulator = results.get("emulator")
    if emulator:
        lines.append("")
        lines.append("Emulator (python -m yourgpt_async.testing), driven by the floor client:")
        for concurrency, row in emulator["summary"].items():
            lines.append(
                f"  c={concurrency:<3} {row['requests_per_s']:8.0f} req/s "
                f"({row['ratio_to_fast_server']:.3f} x the fast server's floor), "
                f"{row['server_cpu_us_per_request']:.0f} us server CPU/req "
                f"(so about {row['capacity_per_core']:.0f} req/s per core it has to itself), "
                f"server CPU {row['server_cpu_share']:.0%}"
            )
    throughput = results.get("bulk_throughput")
    if throughput:
        lines.append("")
        if "skipped" in throughput:
            lines.append(f"send_many throughput: {throughput['skipped']}")
        else:
            lines.append(
                f"Bulk throughput: {throughput['items']:,} items, concurrency "
                f"{throughput['concurrency']}, RateLimit.unlimited(), against the fast server; "
                f"medians of {throughput['rounds']} rounds (A B A B ...)"
            )
            header = (
                f"  {'variant':<40} {'items/s':>9} {'CPU us/item':>12} {'peak RSS':>9} "
                f"{'server CPU':>10} {'others':>7}"
            )
            lines += [header, "  " + "-" * (len(header) - 2)]
            for variant, row in throughput["summary"].items():
                lines.append(
                    f"  {_LABELS.get(variant, variant):<40} {row['items_per_s']:9.0f} "
                    f"{row['cpu_us_per_item']:12.1f} {row['peak_growth_mb']:+7.1f}MB "
                    f"{row['server_cpu_share']:10.0%} {row['other_processes_cpu_share']:7.0%}"
                )
            lines.append(
                f"  send_many / gather: {throughput['throughput_ratio']:.3f} x items/s, "
                f"{throughput['cpu_ratio']:.3f} x CPU/item (medians of per-round ratios)"
            )
    if results.get("settle"):
        lines += settle_table(results["settle"])
    bulk = results.get("bulk")
    if bulk:
        lines.append("")
        if "skipped" in bulk:
            lines.append(f"send_many: {bulk['skipped']}")
        else:
            lines.append(
                f"send_many, {bulk['items']:,} generated items, concurrency 64: peak RSS growth "
                f"{bulk['peak_growth_mb']:.1f} MB, {bulk['items_per_s']:.0f} items/s"
            )
    if results.get("import"):
        lines += ([] if bulk else [""]) + import_table(results["import"])
    pacing = results.get("pacing")
    if pacing:
        lines.append("")
        lines += table_lines(pacing)
    if results.get("nginx"):
        lines.append("")
        lines += nginx_table(results["nginx"])
    targets = results.get("targets")
    if targets:
        lines.append("")
        lines.append("Targets:")
        for target in targets:
            mark = "met   " if target["met"] else "MISSED"
            lines.append(f"  [{mark}] {target['target']}: {target['measured']}")
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """``value`` with NaN (a ratio to a zero floor) as ``None``, so the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _machine() -> dict[str, Any]:
    client_cpus, server_cpus = _cpus()
    versions = {}
    for name in ("yourgpt-async", "aiohttp", "httpx", "aiohttp-retry", "orjson", "cattrs"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_count": os.cpu_count(),
        "pinning": (
            f"client on CPU {sorted(client_cpus)[0]}, server on CPU {sorted(server_cpus)[0]}"
            if client_cpus and server_cpus
            else "not pinned"
        ),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the SDK beside raw aiohttp, httpx and aiohttp-retry.",
    )
    parser.add_argument("--quick", action="store_true", help="short runs (about two minutes)")
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated scenarios to run (default: all of {', '.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds of the clients (default 5)"
    )
    parser.add_argument(
        "--rate-rounds", type=int, default=3, help="rounds of the emulator and paced runs"
    )
    parser.add_argument("--seconds", type=float, help="timed seconds per client run")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated clients (default: {', '.join(VARIANTS)})",
    )
    parser.add_argument("--bulk-items", type=int, help="items for send_many (default 1,000,000)")
    parser.add_argument(
        "--bulk-rounds", type=int, default=1, help="send_many (and import) runs (default 1)"
    )
    parser.add_argument(
        "--import-items", type=int, help="rows of the train import (default 200,000)"
    )
    parser.add_argument(
        "--bulk-throughput-items",
        type=int,
        default=20_000,
        help="items per run of send_many vs gather (default 20,000; rounds: --rounds)",
    )
    parser.add_argument("--rate-items", type=int, default=2000, help="N of the pacing matrix")
    parser.add_argument("--rate", type=float, default=200.0, help="R of the pacing matrix")
    parser.add_argument(
        "--rate-burst", type=int, default=20, help="the token buckets' burst (default 20)"
    )
    parser.add_argument(
        "--pacing-rows",
        help=f"comma-separated rows of the pacing matrix (default: all of {', '.join(ROWS)})",
    )
    parser.add_argument(
        "--pacing-rounds", type=int, default=1, help="runs of each pacing row (default 1)"
    )
    parser.add_argument(
        "--nginx-refusals",
        type=refusal_list,
        default=list(REFUSALS),
        help=f"comma-separated refusal styles of the nginx gateway (default: {','.join(REFUSALS)})",
    )
    parser.add_argument(
        "--nginx-rounds", type=int, default=1, help="runs of each nginx refusal style (default 1)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help=f"also measure the SDK of git revision REV as {BASELINE!r} in the overhead rounds",
    )
    parser.add_argument("--chart", type=Path, default=CHART, help="chart PNG")
    parser.add_argument("--no-chart", action="store_true", help="do not render the chart")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="RetryPolicy.settle of the settle runs"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the SDK at concurrency 64 with cProfile instead of benchmarking "
        "(with --only bulk-throughput: send_many and gather)",
    )
    return parser


def profile(args: argparse.Namespace, chosen: Sequence[str]) -> None:
    """Profile the chosen scenarios (overhead, bulk-throughput) and print where time goes."""
    if "overhead" in chosen:
        _profile_overhead(args)
    if "bulk-throughput" in chosen:
        _profile_bulk_throughput(args)


def _profile_bulk_throughput(args: argparse.Namespace) -> None:
    """Profile one send_many and one gather run of the bulk-throughput scenario."""
    import pstats
    import tempfile

    client_cpus, server_cpus = _cpus()
    with tempfile.TemporaryDirectory() as tmp, fast_server(server_cpus) as (base_url, _):
        for variant in BULK_VARIANTS:
            path = str(Path(tmp) / f"{variant}.prof")
            result = _run_json(
                "benchmarks._scenarios",
                "bulk-throughput",
                variant,
                "--base-url",
                base_url,
                "--items",
                str(args.bulk_throughput_items),
                "--concurrency",
                str(BULK_CONCURRENCY),
                "--profile",
                path,
                cpus=client_cpus,
                timeout=600,
            )
            print(
                f"\n== {_LABELS[variant]}: {result['items']:,} items under cProfile, "
                f"{result['cpu_us_per_item']:.1f} us CPU/item, {result['items_per_s']:.0f} "
                "items/s (both inflated by the profiler)"
            )
            stats = pstats.Stats(path, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats("yourgpt_async|asyncio", 30)


def _profile_overhead(args: argparse.Namespace) -> None:
    """Profile one SDK run at concurrency 64 and print where its time goes."""
    import pstats
    import tempfile

    client_cpus, server_cpus = _cpus()
    with tempfile.TemporaryDirectory() as tmp, fast_server(server_cpus) as (base_url, _):
        path = str(Path(tmp) / "sdk.prof")
        result = _run_json(
            "benchmarks._clients",
            "sdk",
            "--base-url",
            base_url,
            "--concurrency",
            "64",
            "--seconds",
            str(args.seconds),
            "--profile",
            path,
            cpus=client_cpus,
            timeout=300,
        )
        print(
            f"{result['requests']} requests under cProfile: "
            f"{result['cpu_us_per_request']:.1f} us CPU/request (inflated by the profiler)"
        )
        stats = pstats.Stats(path, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats("yourgpt_async", 30)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0912, PLR0915 - a block per scenario
    """Entry point of ``python -m benchmarks``."""
    args = _parser().parse_args(argv)
    args.seconds = args.seconds or (0.8 if args.quick else 2.0)
    args.bulk_items = args.bulk_items or (100_000 if args.quick else 1_000_000)
    args.import_items = args.import_items or (50_000 if args.quick else 200_000)
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or FLOOR not in args.variants:
        print(f"--variants must name {FLOOR} (the floor) and only {', '.join(VARIANTS)}")
        return 2
    chosen = [s for s in (args.only or ",".join(SCENARIOS)).split(",") if s]
    if set(chosen) - set(SCENARIOS):
        print(f"--only takes {', '.join(SCENARIOS)}")
        return 2
    if args.profile:
        # Without --only, the overhead scenario (as before there was a second one to profile).
        profile(args, chosen if args.only else ["overhead"])
        return 0

    def log(line: str) -> None:
        print(line, flush=True)

    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": _machine(),
        "config": {
            "rounds": args.rounds,
            "emulator_and_paced_rounds": args.rate_rounds,
            "seconds_per_run": args.seconds,
            "concurrencies": list(CONCURRENCIES),
            "bulk_items": args.bulk_items,
            "import_items": args.import_items,
            "bulk_throughput_items": args.bulk_throughput_items,
            "quick": args.quick,
        },
    }
    if "overhead" in chosen:
        log("Overhead: client CPU per sendMessage round trip, against the fast server")
        with baseline_tree(args.baseline) as args.baseline_dir:
            if args.baseline_dir is not None:
                args.variants.append(BASELINE)
                results["config"]["baseline"] = args.baseline
            results["overhead"] = run_overhead(args, log)
    if "emulator" in chosen:
        log("Emulator throughput")
        floor_rps = {
            c: table[FLOOR]["median"]
            for c, table in results.get("overhead", {}).get("requests_per_s", {}).items()
        }
        results["emulator"] = run_emulator(args, floor_rps, log)
    if "bulk-throughput" in chosen:
        log(
            "Bulk throughput: send_many against asyncio.gather + Semaphore over send_message, "
            f"{args.bulk_throughput_items:,} items"
        )
        results["bulk_throughput"] = run_bulk_throughput(args, log)
    if "pacing" in chosen:
        log("Pacing matrix: every kind of server, not told the limit and told it")
        results["pacing"] = run_pacing(args, _run_json, _cpus()[0], log)
    if "bulk" in chosen:
        log("send_many memory")
        results["bulk"] = run_bulk(args, log)
    if "import" in chosen:
        log(f"train import memory: training.add_many from a {args.import_items:,}-row CSV")
        results["import"] = run_import(args, log, _run_json, fast_server, _cpus())
    if "settle" in chosen:
        results["settle"] = run_settle(args, log, _run_json)
    if "nginx" in chosen:
        results["nginx"] = run_nginx(
            refusals=args.nginx_refusals,
            items=args.rate_items,
            per_second=round(args.rate),
            burst=args.rate_burst,
            rounds=args.nginx_rounds,
            run_json=_run_json,
            log=log,
        )
    results["targets"] = _targets(results)
    results["elapsed_s"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(_finite(results), indent=1, allow_nan=False) + "\n")
    print("\n" + _table(results))
    print(f"\nWrote {args.output}")
    if not args.no_chart:
        from ._chart import render

        render(results, args.chart)
        print(f"Wrote {args.chart}")
    print(f"Took {results['elapsed_s']:.0f} s")
    return 0

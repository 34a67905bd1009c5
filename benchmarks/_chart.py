"""Renders ``results.json`` as the chart the docs show (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["render"]

_SHORT = {
    "aiohttp": "aiohttp\n(floor)",
    "sdk": "SDK",
    "sdk-unpaced": "SDK\nunpaced",
    "httpx": "httpx",
    "aiohttp-retry": "aiohttp-\nretry",
}
_CLIP = 3.0  # bars taller than this many times the tallest of the rest are cut, and say so
_COLOURS = {
    "aiohttp": "#9e9e9e",
    "sdk": "#1f77b4",
    "sdk-unpaced": "#6baed6",
    "httpx": "#ff7f0e",
    "aiohttp-retry": "#2ca02c",
}


def _bars(axis: Any, table: dict[str, dict[str, float]], unit: str, title: str) -> None:
    variants = list(table)
    values = [table[v]["median"] for v in variants]
    # One outlier (httpx at concurrency 64) would flatten every other bar: cut it.
    ordered = sorted(values)
    top = ordered[-1]
    if len(ordered) > 1 and ordered[-1] > _CLIP * ordered[-2]:
        top = ordered[-2] * 1.15
    bars = axis.bar(
        [_SHORT.get(v, v) for v in variants],
        [min(value, top) for value in values],
        color=[_COLOURS.get(v, "#888888") for v in variants],
    )
    for bar, variant, value in zip(bars, variants, values, strict=True):
        cut = " (cut)" if value > top else ""
        axis.annotate(
            f"{value:.0f}{cut}\n{table[variant]['ratio']:.2f}x",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    axis.set_title(title, fontsize=9)
    axis.set_ylabel(unit, fontsize=8)
    axis.tick_params(axis="x", labelsize=7)
    axis.tick_params(axis="y", labelsize=7)
    axis.set_ylim(0, top * 1.25)


def _pacing(axis: Any, pacing: dict[str, Any] | None) -> None:
    """The pacing matrix: time / ideal per kind of server, not told and told the limit."""
    if not pacing or "summary" not in pacing:
        axis.axis("off")
        return
    rows = list(pacing["summary"])
    positions = range(len(rows))
    width = 0.4
    for offset, key, colour in (
        (-width / 2, "not_told", "#1f77b4"),
        (width / 2, "told", "#6baed6"),
    ):
        cells = [pacing["summary"][row][key] for row in rows]
        bars = axis.bar(
            [p + offset for p in positions],
            [cell["time_ratio"] for cell in cells],
            width,
            color=colour,
            label=key.replace("_", " "),
        )
        for bar, cell in zip(bars, cells, strict=True):
            axis.annotate(
                f"{cell['time_ratio']:.2f}, {cell['throttled']:.0f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=6,
            )
    axis.axhline(1.0, color="#555555", linewidth=1)
    top = max(cell["time_ratio"] for row in rows for cell in pacing["summary"][row].values())
    axis.set_ylim(0, top * 1.3)
    axis.set_xticks(list(positions))
    axis.set_xticklabels([row.replace("-", "\n") for row in rows], fontsize=6)
    axis.set_ylabel("time / (N/R); label: ratio, 429s", fontsize=8)
    axis.set_title(
        f"Pacing, N={pacing['items']}, R={pacing['per_second']:.0f}/s, by kind of server",
        fontsize=9,
    )
    axis.legend(fontsize=7)
    axis.tick_params(axis="y", labelsize=7)


def _bulk_throughput(axis: Any, throughput: dict[str, Any] | None) -> None:
    """send_many beside gather + semaphore: items/s, labelled with CPU per item."""
    if not throughput or "summary" not in throughput:
        axis.axis("off")
        axis.text(0.5, 0.5, "send_many throughput: not measured", ha="center", fontsize=9)
        return
    rows = [
        ("send_many", throughput["summary"]["send-many"]),
        ("gather +\nSemaphore", throughput["summary"]["gather"]),
    ]
    values = [row["items_per_s"] for _, row in rows]
    bars = axis.barh([label for label, _ in rows], values, color=["#1f77b4", "#9e9e9e"], height=0.6)
    for bar, (_, row) in zip(bars, rows, strict=True):
        axis.annotate(
            f" {row['items_per_s']:.0f}/s, {row['cpu_us_per_item']:.0f} µs CPU/item,\n"
            f" peak RSS +{row['peak_growth_mb']:.1f} MB",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            ha="left",
            va="center",
            fontsize=7,
        )
    axis.axvline(0.9 * values[1], color="#d62728", linestyle="--", linewidth=1)
    axis.text(0.9 * values[1], 1.45, "0.90 x gather ", ha="right", va="center", fontsize=7)
    axis.set_xlim(0, max(values) * 1.8)
    axis.set_ylim(-0.6, 1.7)
    axis.invert_yaxis()
    axis.set_xlabel("items/s (higher is better)", fontsize=8)
    axis.set_title(
        f"send_many vs gather, {throughput['items']:,} items, c={throughput['concurrency']}: "
        f"{throughput['throughput_ratio']:.2f}x",
        fontsize=9,
    )
    axis.tick_params(labelsize=7)


def render(results: dict[str, Any], path: Path) -> None:  # long: one figure, panel by panel
    """Draw the overhead, throughput, memory, bulk and pacing panels into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(13, 9))
    # Two rows of overhead panels on the left; three bulk panels stacked on the right.
    grid = figure.add_gridspec(6, 3)
    cpu_axes = [figure.add_subplot(grid[0:3, column]) for column in range(2)]
    rps_axes = [figure.add_subplot(grid[3:6, column]) for column in range(2)]
    bulk_axis, throughput_axis, paced_axis = (
        figure.add_subplot(grid[2 * row : 2 * row + 2, 2]) for row in range(3)
    )
    overhead = results.get("overhead")
    if overhead:
        for column, concurrency in enumerate(("1", "64")):
            if concurrency in overhead["cpu_us_per_request"]:
                _bars(
                    cpu_axes[column],
                    overhead["cpu_us_per_request"][concurrency],
                    "client CPU µs per request (lower is better)",
                    f"Client CPU per sendMessage, concurrency {concurrency}",
                )
                _bars(
                    rps_axes[column],
                    overhead["requests_per_s"][concurrency],
                    "requests/s (higher is better)",
                    f"Throughput, concurrency {concurrency} (wall clock: other load shows)",
                )
    _bulk_throughput(throughput_axis, results.get("bulk_throughput"))
    bulk = results.get("bulk")
    if bulk and bulk.get("runs"):
        run = bulk["runs"][0]
        samples = run["rss_samples"]
        mb = 1024 * 1024 / 1_000_000
        bulk_axis.plot([t for t, _ in samples], [g * mb for _, g in samples], color="#1f77b4")
        bulk_axis.axhline(50, color="#d62728", linestyle="--", linewidth=1, label="50 MB target")
        bulk_axis.axhline(
            bulk["peak_growth_mb"],
            color="#1f77b4",
            linestyle=":",
            linewidth=1,
            label="peak (ru_maxrss)",
        )
        bulk_axis.set_ylim(0, max(60, max((g * mb for _, g in samples), default=0) * 1.2))
        bulk_axis.legend(fontsize=7)
        bulk_axis.set_xlabel("seconds", fontsize=8)
        bulk_axis.set_ylabel("RSS growth, MB", fontsize=8)
        bulk_axis.set_title(
            f"send_many, {bulk['items']:,} items: peak +{bulk['peak_growth_mb']:.1f} MB",
            fontsize=9,
        )
        bulk_axis.tick_params(labelsize=7)
    else:
        bulk_axis.axis("off")
        bulk_axis.text(0.5, 0.5, "send_many: not measured", ha="center", fontsize=9)
    _pacing(paced_axis, results.get("pacing"))
    machine = results["machine"]
    figure.suptitle(
        f"yourgpt-async benchmarks — {machine['cpu_count']} cores, Python {machine['python']}; "
        f"medians of {results['config']['rounds']} interleaved rounds; labels: value and "
        "ratio to the floor (raw aiohttp + json)",
        fontsize=10,
    )
    figure.text(
        0.5,
        0.005,
        "SDK: AsyncClient with its defaults, the adaptive RateLimit() included; SDK unpaced: "
        "rate_limit=RateLimit.unlimited(). CPU per request is process_time of the client process "
        "over a timed run; see benchmarks/README.md.",
        ha="center",
        fontsize=7,
        color="#555555",
    )
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)

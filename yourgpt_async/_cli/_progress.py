"""The ``bulk`` command's progress on stderr: a rich bar on a terminal, periodic plain lines
otherwise, or nothing; each says what bounds the run's speed when it can tell (the concurrency,
or the service's rate limit)."""

from __future__ import annotations

import sys
import time
from typing import Any

from ..bulk import BulkSummary
from ._output import printable

__all__ = ["Progress", "what_limits"]


def what_limits(summary: BulkSummary, concurrency: int) -> str:
    """What the run is waiting on now, for the progress line; empty when it cannot tell.

    All places taken, every request on the wire: the concurrency bounds the run. Requests
    waiting for their turn: the service's rate limit (or a pause between attempts) does.
    """
    if summary.waiting:
        return f"{summary.waiting} of {summary.in_flight} in flight waiting for the rate limit"
    if summary.at_capacity and summary.in_flight:
        return (
            f"limited by --concurrency {concurrency}: all {summary.in_flight} in flight are on "
            "the wire, none held back by the rate limit (a higher --concurrency may go faster)"
        )
    return ""


class Progress:
    """Shows a bulk run's progress: a rich bar, periodic plain lines, or nothing."""

    def __init__(
        self,
        mode: str,
        every: float,
        total: int | None,
        concurrency: int,
        secrets: tuple[str, ...] = (),
        *,
        label: str = "bulk",
        verb: str = "sent",
    ) -> None:
        self._secrets = secrets
        self._label = label
        self._verb = verb
        self._total = total
        self._every = every
        self._concurrency = concurrency
        self._last = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        if mode == "bar":
            mode = self._start_bar(total)
        self.mode = mode

    def _start_bar(self, total: int | None) -> str:
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar
        except ImportError:
            return "lines"
        console = Console(file=sys.stderr, force_terminal=True, emoji=False, highlight=False)
        self._bar = Bar(
            TextColumn(f"[bold]{self._label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.1f}/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            console=console,
            transient=False,
        )
        self._task = self._bar.add_task(self._label, total=total, rate=0.0, detail="")
        self._bar.start()
        return "bar"

    def log(self, text: str) -> None:
        """Print a line above the bar (or between the progress lines)."""
        text = printable(text, self._secrets, sys.stderr.encoding or "utf-8")
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def update(self, summary: BulkSummary, bad_lines: int, *, force: bool = False) -> None:
        """Show ``summary``: on the bar at once, as a line every few seconds (or if ``force``)."""
        done = summary.completed + summary.skipped + bad_lines
        rate = summary.completed / summary.elapsed if summary.elapsed > 0 else 0.0
        limit = "" if summary.finished else what_limits(summary, self._concurrency)
        if self._bar is not None:
            errors = summary.failed + summary.in_doubt + bad_lines
            detail = f"{self._verb} {summary.sent} · errors {errors}"
            if summary.skipped:
                detail += f" · skipped {summary.skipped}"
            if limit:
                detail += f" · {limit.partition(':')[0]}"
            self._bar.update(self._task, completed=done, rate=rate, detail=detail)
            return
        if self.mode != "lines":
            return
        now = time.monotonic()
        if not force and now - self._last < self._every:
            return
        self._last = now
        total = "?" if self._total is None else str(self._total)
        eta = ""
        if self._total is not None and rate > 0 and done < self._total:
            eta = f", ETA {(self._total - done) / rate:.0f}s"
        print(
            f"{self._label}: {done}/{total} done: {self._verb} {summary.sent}, "
            f"failed {summary.failed}, in doubt {summary.in_doubt}, "
            f"skipped {summary.skipped}, bad lines {bad_lines}; "
            f"{rate:.1f}/s{eta}" + (f"; {limit}" if limit else ""),
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()

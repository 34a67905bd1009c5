"""The ``bulk`` command: sends a file's items with ``send_many``, shows the progress, appends
the outcomes to ``--output``, stops gently on the first Ctrl-C or SIGTERM and at once on the
second, and prints a summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from .._bulk import BulkRun, BulkSummary
from .._config import RateLimit
from .._exceptions import ConfigurationError
from ._bulk_input import InputFile
from ._commands import client_for
from ._output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Printer, Results

__all__ = ["bulk"]


def bulk(args: argparse.Namespace, out: Printer) -> int:
    """Run the ``bulk`` command; returns the exit code."""
    path = Path(args.file)
    if not path.is_file():
        raise ConfigurationError(f"bulk: no such file: {args.file!r}")
    source = InputFile(path, args.format, lambda number, text: None)
    return asyncio.run(_run(args, out, source, source.count()))


async def _run(args: argparse.Namespace, out: Printer, source: InputFile, total: int) -> int:
    """Send every item of ``source``, then print the summary; return the exit code."""
    rate_limit = None if args.rate is None else RateLimit(per_second=args.rate)
    client = client_for(args, rate_limit=rate_limit, max_concurrency=args.concurrency)
    progress = _Progress(args.progress, args.progress_every, total)
    source.on_bad = lambda number, text: progress.log(f"{source.path}:{number}: skipped: {text}")
    results = Results(None if args.output is None else Path(args.output))

    def on_progress(summary: BulkSummary) -> None:
        progress.update(summary, source.bad_lines)
        results.flush()

    interrupt = _Interrupt(progress)
    try:
        with interrupt:
            async with client:
                interrupt.run = run = client.send_many(
                    source,
                    concurrency=args.concurrency,
                    journal=args.journal,
                    progress=on_progress,
                    resend_in_doubt=args.resend_in_doubt,
                )
                async with run:
                    async for outcome in run:
                        results.write(outcome)
    except asyncio.CancelledError:
        if not interrupt.happened:
            raise
    finally:
        results.close()
        if interrupt.run is not None:
            progress.update(interrupt.run.summary(), source.bad_lines, force=True)
        progress.close()
    if interrupt.run is None:
        return EXIT_INTERRUPTED
    summary = interrupt.run.summary()
    return _finish(args, out, summary, source.bad_lines, interrupted=interrupt.happened)


def _finish(
    args: argparse.Namespace,
    out: Printer,
    summary: BulkSummary,
    bad_lines: int,
    *,
    interrupted: bool,
) -> int:
    """Print the summary; return the exit code."""
    if args.json:
        out.json(
            {
                **attrs.asdict(summary),
                "rate": summary.rate,
                "bad_lines": bad_lines,
                "interrupted": interrupted,
            }
        )
    else:
        out.line(
            f"{'interrupted' if interrupted else 'done'} in {summary.elapsed:.1f}s: "
            f"sent {summary.sent}, failed {summary.failed}, in doubt {summary.in_doubt}, "
            f"skipped (already sent) {summary.skipped}, bad lines {bad_lines}"
            + (f", abandoned in flight {summary.cancelled}" if summary.cancelled else "")
            + (
                f", settled by read-back {summary.settled} ({summary.read_backs} read-backs)"
                if summary.read_backs
                else ""
            )
            + f"; {summary.rate:.1f} sent/s"
        )
    if interrupted:
        return EXIT_INTERRUPTED
    if summary.failed or summary.in_doubt or bad_lines or summary.cancelled:
        return EXIT_FAILED
    return EXIT_OK


class _Interrupt:
    """Ctrl-C and SIGTERM while a run is on: the first stops taking new items and lets those in
    flight finish; the second (or one before the run has started) cancels the command."""

    def __init__(self, progress: _Progress) -> None:
        self.happened = False
        self.run: BulkRun | None = None
        self._progress = progress
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._handled: list[signal.Signals] = []

    def __enter__(self) -> _Interrupt:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(signum, self._on_signal)
                self._handled.append(signum)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum in self._handled:
            self._loop.remove_signal_handler(signum)

    def _on_signal(self) -> None:
        if not self.happened and self.run is not None:
            self.happened = True
            self.run.stop()
            in_flight = self.run.summary().in_flight
            self._progress.log(
                f"interrupted: taking no new items; waiting for {in_flight} in "
                "flight (interrupt again to abandon them)"
            )
        elif self._task is not None:
            self.happened = True
            self._task.cancel()


class _Progress:
    """Shows a bulk run's progress: a rich bar, periodic plain lines, or nothing."""

    def __init__(self, mode: str, every: float, total: int | None) -> None:
        self._total = total
        self._every = every
        self._last = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        self._console: Any = None
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        if mode == "bar":
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                )
            except ImportError:
                mode = "lines"
            else:
                self._console = Console(file=sys.stderr, force_terminal=True)
                self._bar = Progress(
                    TextColumn("[bold]bulk"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:>8.1f}/s"),
                    TextColumn("ETA"),
                    TimeRemainingColumn(),
                    TextColumn("{task.fields[detail]}"),
                    console=self._console,
                    transient=False,
                )
                self._task = self._bar.add_task("bulk", total=total, rate=0.0, detail="")
                self._bar.start()
        self.mode = mode

    def log(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def update(self, summary: BulkSummary, bad_lines: int, *, force: bool = False) -> None:
        done = summary.completed + summary.skipped + bad_lines
        rate = summary.completed / summary.elapsed if summary.elapsed > 0 else 0.0
        errors = summary.failed + summary.in_doubt + bad_lines
        if self._bar is not None:
            detail = f"sent {summary.sent} · errors {errors}"
            if summary.skipped:
                detail += f" · skipped {summary.skipped}"
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
            f"bulk: {done}/{total} done: sent {summary.sent}, failed {summary.failed}, "
            f"in doubt {summary.in_doubt}, skipped {summary.skipped}, bad lines {bad_lines}; "
            f"{rate:.1f}/s{eta}",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()

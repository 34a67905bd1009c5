"""The ``bulk`` command: sends a file's items with ``send_many``, shows the progress, appends
the outcomes to ``--output``, stops gently on the first Ctrl-C or SIGTERM (the requests on the
wire are awaited, those still waiting for their turn are not sent) and at once on the second,
and prints a summary with the failure reasons and their counts. A run the service stops with
401 or 403 exits 2, saying why."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from .._bulk import BulkOutcome, BulkRun, BulkSummary, Failed, InDoubt
from .._config import RateLimit
from .._exceptions import APIError, ConfigurationError, DeliveryUnknownError, YourGPTError
from ._bulk_input import InputFile
from ._commands import client_for
from ._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Printer,
    Results,
    printable,
)

_REASONS = 50  # distinct failure reasons counted; later ones count as "other"
_SHOWN = 10  # reasons listed in the text summary

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
    progress = _Progress(args.progress, args.progress_every, total, out.secrets)
    source.on_bad = lambda number, text: progress.log(f"{source.path}:{number}: skipped: {text}")
    results = Results(None if args.output is None else Path(args.output), out.secrets)
    reasons = Reasons()

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
                        reasons.add(outcome)
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
    run = interrupt.run
    _finish(args, out, run.summary(), source.bad_lines, reasons, interrupted=interrupt.happened)
    return _exit_code(run, source.bad_lines, out, interrupted=interrupt.happened)


def _finish(
    args: argparse.Namespace,
    out: Printer,
    summary: BulkSummary,
    bad_lines: int,
    reasons: Reasons,
    *,
    interrupted: bool,
) -> None:
    """Print the summary: the counts, then the failure reasons with theirs."""
    if args.json:
        out.json(
            {
                **attrs.asdict(summary),
                "rate": summary.rate,
                "bad_lines": bad_lines,
                "interrupted": interrupted,
                "reasons": dict(reasons.counts.most_common()),
            }
        )
        return
    out.line(
        f"{'interrupted' if interrupted else 'done'} in {summary.elapsed:.1f}s: "
        f"sent {summary.sent}, failed {summary.failed}, in doubt {summary.in_doubt}, "
        f"skipped (already sent) {summary.skipped}, bad lines {bad_lines}"
        + (f", not sent {summary.not_sent}" if summary.not_sent else "")
        + (f", abandoned in flight {summary.cancelled}" if summary.cancelled else "")
        + (
            f", settled by read-back {summary.settled} ({summary.read_backs} read-backs)"
            if summary.read_backs
            else ""
        )
        + f"; {summary.rate:.1f} sent/s"
    )
    for reason, count in reasons.counts.most_common(_SHOWN):
        out.line(f"  {count} × {reason}")
    if len(reasons.counts) > _SHOWN:
        out.line(f"  ... and {len(reasons.counts) - _SHOWN} other reasons")


def _exit_code(run: BulkRun, bad_lines: int, out: Printer, *, interrupted: bool) -> int:
    """130 after an interrupt; 2 when the service refused the key; 1 when an item is not
    known to be sent; else 0."""
    summary = run.summary()
    if interrupted:
        return EXIT_INTERRUPTED
    if run.stopped_by is not None:
        text = (
            f"yourgpt-async: bulk stopped at the first refusal of the API key or its access, "
            f"since every item would be refused too: {run.stopped_by}. "
            f"{summary.not_sent} items waiting for their turn, and any later lines, were not "
            "sent. "
            "Check --api-key and --widget-uid, then run again (with the same --journal, only "
            "the items not yet sent go)"
        )
        print(printable(text, out.secrets, sys.stderr.encoding or "utf-8"), file=sys.stderr)
        return EXIT_USAGE
    if summary.failed or summary.in_doubt or bad_lines or summary.cancelled or summary.not_sent:
        return EXIT_FAILED
    return EXIT_OK


class Reasons:
    """Counts the outcomes that are not ``Sent`` by why, for the summary."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, outcome: BulkOutcome) -> None:
        if isinstance(outcome, (Failed, InDoubt)):
            reason = reason_of(outcome.error)
            if reason not in self.counts and len(self.counts) >= _REASONS:
                reason = "other"
            self.counts[reason] += 1


def reason_of(error: YourGPTError) -> str:
    """A short line saying why an item failed, the same for every item failing alike."""
    cause = error.__cause__
    if isinstance(error, DeliveryUnknownError) and isinstance(cause, YourGPTError):
        return f"in doubt: {reason_of(cause)}"
    text = re.sub(r"^item \d+:? ", "", error.message)  # an invalid item names its position
    if len(text) > 100:
        text = text[:100] + "..."
    if isinstance(error, APIError):
        return f"{type(error).__name__} (HTTP {error.status}): {text}"
    return f"{type(error).__name__}: {text}"


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
            self._progress.log(
                "interrupted: sending nothing more; waiting for the answers to the requests "
                "already sent (interrupt again to abandon them)"
            )
        elif self._task is not None:
            self.happened = True
            self._task.cancel()


class _Progress:
    """Shows a bulk run's progress: a rich bar, periodic plain lines, or nothing."""

    def __init__(
        self, mode: str, every: float, total: int | None, secrets: tuple[str, ...] = ()
    ) -> None:
        self._secrets = secrets
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
        text = printable(text, self._secrets, sys.stderr.encoding or "utf-8")
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

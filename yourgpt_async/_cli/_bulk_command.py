"""The ``bulk`` command: reads a file with :func:`~yourgpt_async.bulk.read_items`, sends its
items with ``send_many`` under a journal kept next to the file (so running the same command
again resumes), shows the progress, appends the outcomes to ``--output``, stops gently on the
first Ctrl-C or SIGTERM (the requests on the wire are awaited, those still waiting for their
turn are not sent) and at once on the second, and prints a summary with the reasons of the
items not sent, alike ones grouped. A run the service stops with 401 or 403 exits 2, saying
why."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import textwrap
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from .._config import RateLimit
from .._exceptions import APIError, ConfigurationError, YourGPTError
from ..bulk import BulkOutcome, BulkRun, BulkSummary, Failed, InDoubt, ItemFile, read_items
from ._commands import client_for
from ._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Printer,
    Results,
    in_flags,
    printable,
)
from ._progress import Progress

_REASONS = 50  # distinct failure reasons counted; later ones count as "other reasons"
_SHOWN = 10  # reasons listed in the text summary
_REASON_WIDTH = 400  # characters of a reason shown, cut between words

__all__ = ["bulk", "default_journal", "reason_of"]


def default_journal(path: Path) -> Path:
    """Where ``bulk`` keeps the journal of ``path`` unless told otherwise: beside it."""
    return path.with_name(path.name + ".journal")


def bulk(args: argparse.Namespace, out: Printer) -> int:
    """Run the ``bulk`` command; returns the exit code."""
    source = read_items(args.file, format=args.format, on_bad=lambda number, text: None)
    total = source.check()  # a key used twice is refused here, before anything is sent
    journal = _journal(args, source.path)
    resuming = journal is not None and journal.is_file() and journal.stat().st_size > 0
    return asyncio.run(_run(args, out, source, total, journal, resuming=resuming))


def _journal(args: argparse.Namespace, path: Path) -> Path | None:
    """The journal to keep: ``--journal``, else one beside the input, unless ``--no-journal``."""
    if args.no_journal:
        return None
    if args.journal is not None:
        return Path(args.journal)
    journal = default_journal(path)
    if not journal.exists() and not os.access(journal.parent, os.W_OK):
        raise ConfigurationError(
            f"bulk keeps a journal next to the input, so that an interrupted run can be "
            f"resumed, but cannot write {str(journal)!r} there; pass --journal PATH to keep it "
            "elsewhere, or --no-journal to run without one"
        )
    return journal


async def _run(
    args: argparse.Namespace,
    out: Printer,
    source: ItemFile[Any],
    total: int,
    journal: Path | None,
    *,
    resuming: bool,
) -> int:
    """Send every item of ``source``, then print the summary; return the exit code."""
    rate_limit = None if args.rate is None else RateLimit(per_second=args.rate)
    client = client_for(args, rate_limit=rate_limit, max_concurrency=args.concurrency)
    progress = Progress(args.progress, args.progress_every, total, args.concurrency, out.secrets)
    source.on_bad = lambda number, text: progress.log(f"{source.path}:{number}: skipped: {text}")
    if resuming:
        progress.log(
            f"resuming from the journal {journal}: the items an earlier run sent are skipped "
            "(to send every item again, delete it or pass --no-journal)"
        )
    results = Results(None if args.output is None else Path(args.output), out.secrets)
    reasons = Reasons()

    def on_progress(summary: BulkSummary) -> None:
        progress.update(summary, source.bad_lines)
        results.flush()

    interrupt = _Interrupt(progress, journal)
    try:
        with interrupt:
            async with client:
                interrupt.run = run = client.send_many(
                    source,
                    concurrency=args.concurrency,
                    journal=journal,
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
    report = _Report(run.summary(), source.bad_lines, reasons, journal, interrupt.happened)
    report.show(out, as_json=args.json)
    return _exit_code(run, source.bad_lines, out, journal, interrupted=interrupt.happened)


def _resume_hint(journal: Path | None) -> str:
    if journal is None:
        return "there is no journal (--no-journal), so running it again sends every item again"
    return (
        f"to resume, run the same command again: the journal {journal} lets only the items "
        "not yet sent go, none twice"
    )


@attrs.frozen
class _Report:
    """The summary printed at the end of a run."""

    summary: BulkSummary
    bad_lines: int
    reasons: Reasons
    journal: Path | None
    interrupted: bool

    def show(self, out: Printer, *, as_json: bool) -> None:
        """Print the counts, then the reasons of the items not sent with theirs."""
        summary = self.summary
        if as_json:
            out.json(
                {
                    **attrs.asdict(summary),
                    "rate": summary.rate,
                    "bad_lines": self.bad_lines,
                    "interrupted": self.interrupted,
                    "journal": None if self.journal is None else str(self.journal),
                    "reasons": dict(self.reasons.counts.most_common()),
                }
            )
            return
        out.line(
            f"{'interrupted' if self.interrupted else 'done'} in {summary.elapsed:.1f}s: "
            f"sent {summary.sent}, failed {summary.failed}, in doubt {summary.in_doubt}, "
            f"skipped (already sent) {summary.skipped}, bad lines {self.bad_lines}"
            + (f", not sent {summary.not_sent}" if summary.not_sent else "")
            + (f", abandoned in flight {summary.cancelled}" if summary.cancelled else "")
            + (
                f", settled by read-back {summary.settled} ({summary.read_backs} read-backs)"
                if summary.read_backs
                else ""
            )
            + f"; {summary.rate:.1f} sent/s"
        )
        for reason, count in self.reasons.counts.most_common(_SHOWN):
            out.line(f"  {count} × {reason}")
        if len(self.reasons.counts) > _SHOWN:
            out.line(f"  ... and {len(self.reasons.counts) - _SHOWN} other reasons")
        if self.interrupted:
            out.line(_resume_hint(self.journal))


def _exit_code(
    run: BulkRun[Any, Any], bad_lines: int, out: Printer, journal: Path | None, *, interrupted: bool
) -> int:
    """130 after an interrupt; 2 when the service refused the key; 1 when an item is not
    known to be sent; else 0."""
    summary = run.summary()
    if interrupted:
        return EXIT_INTERRUPTED
    if run.stopped_by is not None:
        text = (
            f"yourgpt-async: bulk stopped at the first refusal of the API key or its access, "
            f"since every item would be refused too: {in_flags(str(run.stopped_by))}. "
            f"{summary.not_sent} items waiting for their turn, and any later lines, were not "
            "sent. Check --api-key and --widget-uid, then run the same command again"
            + ("" if journal is None else f" (the journal {journal} lets only the unsent go)")
        )
        print(printable(text, out.secrets, sys.stderr.encoding or "utf-8"), file=sys.stderr)
        return EXIT_USAGE
    if summary.failed or summary.in_doubt or bad_lines or summary.cancelled or summary.not_sent:
        return EXIT_FAILED
    return EXIT_OK


class Reasons:
    """Counts the outcomes that are not ``Sent`` by why, alike ones together, for the summary."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, outcome: BulkOutcome[Any]) -> None:
        if isinstance(outcome, (Failed, InDoubt)):
            reason = reason_of(outcome)
            if reason not in self.counts and len(self.counts) >= _REASONS:
                reason = "other reasons"
            self.counts[reason] += 1


def reason_of(outcome: Failed[Any] | InDoubt[Any]) -> str:
    """Why an item was not sent, in the same words for every item alike: without its position
    or key, in the command line's terms, cut (between words) if long."""
    error: YourGPTError = outcome.error
    prefix = ""
    if isinstance(outcome, InDoubt):
        prefix = "in doubt: "
        if isinstance(error.__cause__, YourGPTError):
            error = error.__cause__  # what the service did: the same for alike items
    text = error.message
    for mark in (f"item {outcome.index} (key {outcome.key!r}): ", f"item {outcome.index}: "):
        text = text.removeprefix(mark)
    text = textwrap.shorten(in_flags(text), _REASON_WIDTH, placeholder=" …")
    if isinstance(error, APIError):
        return f"{prefix}{type(error).__name__} (HTTP {error.status}): {text}"
    if prefix and error is outcome.error:  # an earlier run's item: the text says it all
        return f"{prefix}{text}"
    return f"{prefix}{type(error).__name__}: {text}"


class _Interrupt:
    """Ctrl-C and SIGTERM while a run is on: the first stops taking new items and lets those in
    flight finish; the second (or one before the run has started) cancels the command."""

    def __init__(self, progress: Progress, journal: Path | None) -> None:
        self.happened = False
        self.run: BulkRun[Any, Any] | None = None
        self._progress = progress
        self._journal = journal
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
                "already sent (interrupt again to abandon them). " + _resume_hint(self._journal)
            )
        elif self._task is not None:
            self.happened = True
            self._task.cancel()

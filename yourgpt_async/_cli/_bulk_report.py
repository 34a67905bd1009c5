"""What a bulk command says when its run ends: the summary with the reasons of the items not
done (alike ones grouped, in the command line's words), the one line that says why a run
stopped early and how many items it never attempted, and the exit code."""

from __future__ import annotations

import re
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from .._exceptions import APIError, QuotaExceededError, YourGPTError
from ..bulk import BulkOutcome, BulkRun, Failed, InDoubt
from ._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Printer,
    in_flags,
    printable,
)

__all__ = ["Ended", "Reasons", "Report", "Wording", "reason_of", "resume_hint"]

_REASONS = 50  # distinct failure reasons counted; later ones count as "other reasons"
_SHOWN = 10  # reasons listed in the text summary
_REASON_WIDTH = 400  # characters of a reason shown, cut between words


def resume_hint(journal: Path | None) -> str:
    if journal is None:
        return "there is no journal (--no-journal), so running it again sends every item again"
    return (
        f"to resume, run the same command again: the journal {journal} lets only the items "
        "not yet done go, none twice"
    )


@attrs.frozen(kw_only=True)
class Wording:
    """How a command speaks of its run: its name, what a done item is, what a 401 or 403
    refused and what to check then."""

    label: str  # "bulk", "train import"
    verb: str  # "sent", "added", "tagged"
    credential: str  # "the API key"
    fix: str  # "Check --api-key and --widget-uid"


@attrs.frozen
class Ended:
    """How a run ended: its command's wording, the run, the file's records, and whether it
    was interrupted."""

    command: Wording
    run: BulkRun[Any, Any]
    total: int
    bad_lines: int
    journal: Path | None
    interrupted: bool

    @property
    def not_attempted(self) -> int:
        """The file's records the run never tried: taken but not sent when it stopped, or
        never read."""
        summary = self.run.summary()
        tried = summary.completed + summary.skipped + summary.cancelled + self.bad_lines
        return max(0, self.total - tried)

    def stop_line(self) -> str | None:
        """The one line that says why the run stopped before the end, and what to do."""
        stopped, command = self.run.stopped_by, self.command
        if stopped is None:
            return None
        resume = (
            ""
            if self.journal is None
            else f": the journal {self.journal} lets only the rest go, none twice"
        )
        if isinstance(stopped, QuotaExceededError):
            return (
                f"yourgpt-async: {command.label} stopped at the plan's limit, since no later "
                f"item could be {command.verb} either: {in_flags(str(stopped))}. "
                f"{self.not_attempted} items were not attempted; once there is room, run the "
                f"same command again{resume}"
            )
        return (
            f"yourgpt-async: {command.label} stopped at the first refusal of "
            f"{command.credential} or its access, since every item would be refused too: "
            f"{in_flags(str(stopped))}. {self.not_attempted} items were not attempted. "
            f"{command.fix}, then run the same command again{resume}"
        )

    def exit_code(self, out: Printer) -> int:
        """130 after an interrupt; 2 when the service refused the credential or its access;
        1 when an item is not known to be done (a spent quota included); else 0."""
        summary = self.run.summary()
        if self.interrupted:
            return EXIT_INTERRUPTED
        line = self.stop_line()
        if line is not None:
            print(printable(line, out.secrets, sys.stderr.encoding or "utf-8"), file=sys.stderr)
            if not isinstance(self.run.stopped_by, QuotaExceededError):
                return EXIT_USAGE
        undone = summary.failed + summary.in_doubt + summary.cancelled + summary.not_sent
        return EXIT_FAILED if undone or self.bad_lines or line is not None else EXIT_OK


@attrs.frozen
class Report:
    """The summary printed at the end of a run."""

    ended: Ended
    reasons: Reasons

    def show(self, out: Printer, *, as_json: bool) -> None:
        """Print the counts, then the reasons of the items not done with theirs."""
        ended = self.ended
        summary, verb = ended.run.summary(), ended.command.verb
        if as_json:
            stopped = ended.run.stopped_by
            out.json(
                {
                    **attrs.asdict(summary),
                    "rate": summary.rate,
                    "bad_lines": ended.bad_lines,
                    "interrupted": ended.interrupted,
                    "stopped_by": None if stopped is None else in_flags(str(stopped)),
                    "not_attempted": ended.not_attempted,
                    "journal": None if ended.journal is None else str(ended.journal),
                    "reasons": dict(self.reasons.counts.most_common()),
                }
            )
            return
        out.line(
            f"{'interrupted' if ended.interrupted else 'done'} in {summary.elapsed:.1f}s: "
            f"{verb} {summary.sent}, failed {summary.failed}, in doubt {summary.in_doubt}, "
            f"skipped (already {verb}) {summary.skipped}, bad lines {ended.bad_lines}"
            + (f", not sent {summary.not_sent}" if summary.not_sent else "")
            + (f", abandoned in flight {summary.cancelled}" if summary.cancelled else "")
            + (
                f", settled by read-back {summary.settled} ({summary.read_backs} read-backs)"
                if summary.read_backs
                else ""
            )
            + f"; {summary.rate:.1f} {verb}/s"
        )
        for reason, count in self.reasons.counts.most_common(_SHOWN):
            out.line(f"  {count} × {reason}")
        if len(self.reasons.counts) > _SHOWN:
            out.line(f"  ... and {len(self.reasons.counts) - _SHOWN} other reasons")
        if ended.interrupted:
            out.line(resume_hint(ended.journal))


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
    text = textwrap.shorten(_in_command_words(text), _REASON_WIDTH, placeholder=" …")
    if isinstance(error, APIError):
        return f"{prefix}{type(error).__name__} (HTTP {error.status}): {text}"
    if prefix and error is outcome.error:  # an earlier run's item: the text says it all
        return f"{prefix}{text}"
    return f"{prefix}{type(error).__name__}: {text}"


# The advice of the Platform API's bulk errors, in the command line's words (``in_flags`` has
# the messages' own).
_COMMAND_ADVICE = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (
            r"Look for it \(training\.list_texts\(type, search=\.\.\.\) or "
            r"training\.list_files\(\)\)",
            "Look for it among the project's training texts and files",
        ),
        (
            r"\bresume with resend_in_doubt=True\b",
            "run the same command again with --resend-in-doubt",
        ),
        (r"\bwith RetryPolicy\(reconcile=True\) a resumed run", "with --reconcile a resumed run"),
    )
)


def _in_command_words(text: str) -> str:
    text = in_flags(text)
    for pattern, replacement in _COMMAND_ADVICE:
        text = pattern.sub(replacement, text)
    return text

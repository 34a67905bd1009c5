"""The commands that run a file through the bulk engine: ``bulk`` (messages, with
``send_many``), ``train import`` (FAQs, texts and file URLs into a bot, with
``training.add_many``) and ``contacts tag`` (tags linked to contacts, with
``contacts.link_tags_many``).

Each reads its file with :class:`~yourgpt_async.bulk.ItemFile` (one clear error for a file
whose header or first record does not name its columns), keeps a journal next to the file (so
running the same command again resumes), shows the progress, appends the outcomes to
``--output``, stops gently on the first Ctrl-C or SIGTERM (the requests on the wire are awaited,
those still waiting for their turn are not sent) and at once on the second, and prints a
summary with the reasons of the items not done, alike ones grouped. A run stopped by a refused
credential or a missing permission exits 2, one stopped at the plan's limit exits 1; each says
why in one line, with the count of items not attempted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from .._base_client import BaseClient
from .._config import RateLimit
from .._exceptions import ConfigurationError
from ..bulk import BulkRun, BulkSummary, ItemFile
from ..bulk._kind import BulkKind
from ..bulk._messages import MESSAGES
from ..platform._contacts import CONTACT_TAGS
from ..platform._training import TRAINING_ITEMS
from ._args import EXIT_CODES, Commands, add_command, add_project
from ._bulk_report import Ended, Reasons, Report, Wording, reason_of, resume_hint
from ._clients import client_for, platform_client_for, with_project
from ._output import (
    EXIT_INTERRUPTED,
    Printer,
    Results,
)
from ._progress import Progress

__all__ = [
    "EXAMPLES",
    "add_contacts_tag",
    "add_format",
    "add_train_import",
    "bulk",
    "contacts_tag",
    "default_journal",
    "reason_of",
    "train_import",
]


@attrs.frozen(kw_only=True)
class _FileCommand(Wording):
    """What one bulk command runs: its kind of item, its client, how it starts the run, what
    the outcomes file says of an item, and how it words its run (:class:`Wording`)."""

    kind: BulkKind[Any, Any]
    client: Callable[[argparse.Namespace, RateLimit | None], BaseClient]
    start: Callable[..., BulkRun[Any, Any]]  # (client, source, args, **run options)
    item_fields: Callable[[Any], dict[str, object]]
    reply_fields: Callable[[Any], dict[str, object]]


def _messages_client(args: argparse.Namespace, rate_limit: RateLimit | None) -> BaseClient:
    return client_for(args, rate_limit=rate_limit, max_concurrency=args.concurrency)


def _platform_client(args: argparse.Namespace, rate_limit: RateLimit | None) -> BaseClient:
    """The organisation's client of ``--token``; ``--reconcile`` settles creates left in doubt
    by reading the project back."""
    return platform_client_for(args, rate_limit=rate_limit, max_concurrency=args.concurrency)


_MESSAGES = _FileCommand(
    label="bulk",
    verb="sent",
    kind=MESSAGES,
    credential="the API key",
    fix="Check --api-key and --widget-uid",
    client=_messages_client,
    start=lambda client, source, args, **options: client.send_many(
        source, resend_in_doubt=args.resend_in_doubt, **options
    ),
    item_fields=lambda item: {"session_uid": item.session_uid},
    reply_fields=lambda reply: {"message_id": reply.id, "reply": reply.message},
)
_TRAIN_IMPORT = _FileCommand(
    label="train import",
    verb="added",
    kind=TRAINING_ITEMS,
    credential="the token",
    fix="Check --token, and that it may write the project's training (Training › Write)",
    client=_platform_client,
    start=lambda client, source, args, **options: client.project(args.project).training.add_many(
        source, resend_in_doubt=args.resend_in_doubt, **options
    ),
    item_fields=lambda item: {
        "type": type(item).__name__.removesuffix("Item").lower(),
        **{
            name: getattr(item, name)
            for name in ("question", "title", "url")
            if hasattr(item, name)
        },
    },
    reply_fields=lambda reply: {"id": reply.id},
)
_CONTACTS_TAG = _FileCommand(
    label="contacts tag",
    verb="tagged",
    kind=CONTACT_TAGS,
    credential="the token",
    fix="Check --token, and that it may write the project's contacts (Contacts › Write)",
    client=_platform_client,
    start=lambda client, source, args, **options: client.project(
        args.project
    ).contacts.link_tags_many(source, **options),
    item_fields=lambda item: {"contact_id": item.contact_id},
    reply_fields=lambda reply: {},
)


def bulk(args: argparse.Namespace, out: Printer) -> int:
    """Run the ``bulk`` command; returns the exit code."""
    return _run_file(args, out, _MESSAGES)


def train_import(args: argparse.Namespace, out: Printer) -> int:
    """Run ``train import``; returns the exit code."""
    return _run_file(args, out, _TRAIN_IMPORT)


def contacts_tag(args: argparse.Namespace, out: Printer) -> int:
    """Run ``contacts tag``; returns the exit code."""
    return _run_file(args, out, _CONTACTS_TAG)


def _run_file(args: argparse.Namespace, out: Printer, command: _FileCommand) -> int:
    source: ItemFile[Any] = ItemFile(
        args.file, format=args.format, on_bad=lambda number, text: None, kind=command.kind
    )
    total = source.check()  # a key used twice is refused here, before anything is sent
    journal = _journal(args, source.path, command.label)
    resuming = journal is not None and journal.is_file() and journal.stat().st_size > 0
    return asyncio.run(
        _run(args, out, command, source=source, total=total, journal=journal, resuming=resuming)
    )


def default_journal(path: Path) -> Path:
    """Where a bulk command keeps the journal of ``path`` unless told otherwise: beside it."""
    return path.with_name(path.name + ".journal")


def _journal(args: argparse.Namespace, path: Path, label: str) -> Path | None:
    """The journal to keep: ``--journal``, else one beside the input, unless ``--no-journal``."""
    if args.no_journal:
        return None
    if args.journal is not None:
        return Path(args.journal)
    journal = default_journal(path)
    if not journal.exists() and not os.access(journal.parent, os.W_OK):
        raise ConfigurationError(
            f"{label} keeps a journal next to the input, so that an interrupted run can be "
            f"resumed, but cannot write {str(journal)!r} there; pass --journal PATH to keep it "
            "elsewhere, or --no-journal to run without one"
        )
    return journal


async def _run(
    args: argparse.Namespace,
    out: Printer,
    command: _FileCommand,
    *,
    source: ItemFile[Any],
    total: int,
    journal: Path | None,
    resuming: bool,
) -> int:
    """Run every item of ``source``, then print the summary; return the exit code."""
    rate_limit = None if args.rate is None else RateLimit(per_second=args.rate)
    client = command.client(args, rate_limit)
    progress, results = _outputs(args, out, command, source, total)
    if resuming:
        progress.log(
            f"resuming from the journal {journal}: the items an earlier run {command.verb} are "
            "skipped (to run every item again, delete it or pass --no-journal)"
        )
    reasons = Reasons()

    def on_progress(summary: BulkSummary) -> None:
        progress.update(summary, source.bad_lines)
        results.flush()

    interrupt = _Interrupt(progress, journal)
    try:
        with interrupt:
            async with client:
                interrupt.run = run = command.start(
                    client,
                    source,
                    args,
                    concurrency=args.concurrency,
                    journal=journal,
                    progress=on_progress,
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
    ended = Ended(command, interrupt.run, total, source.bad_lines, journal, interrupt.happened)
    Report(ended, reasons).show(out, as_json=args.json)
    return ended.exit_code(out)


def _outputs(
    args: argparse.Namespace,
    out: Printer,
    command: _FileCommand,
    source: ItemFile[Any],
    total: int,
) -> tuple[Progress, Results]:
    """Where a run's progress goes (bad lines with it), and its outcomes (``--output``)."""
    progress = Progress(
        args.progress,
        args.progress_every,
        total,
        args.concurrency,
        out.secrets,
        label=command.label,
        verb=command.verb,
    )
    source.on_bad = lambda number, text: progress.log(f"{source.path}:{number}: skipped: {text}")
    output = None if args.output is None else Path(args.output)
    results = Results(
        output, out.secrets, item_fields=command.item_fields, reply_fields=command.reply_fields
    )
    return progress, results


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
                "already sent (interrupt again to abandon them). " + resume_hint(self._journal)
            )
        elif self._task is not None:
            self.happened = True
            self._task.cancel()


# -- the commands' arguments -----------------------------------------------------------------

EXAMPLES: dict[str, tuple[str, ...]] = {
    "train": (
        'yourgpt-async train import faqs.csv --project "$project"      journal: faqs.csv.journal',
        'yourgpt-async train import faqs.csv --project "$project"      again: resumes',
        'yourgpt-async train import docs.jsonl --project "$project" --reconcile --output out.jsonl',
    ),
    "contacts": (
        'yourgpt-async contacts tag campaign.csv --project "$project"',
        'yourgpt-async contacts tag campaign.csv --project "$project" --json',
    ),
}
"""The example command lines of the ``train`` and ``contacts`` groups' bulk commands."""

_FILE_TEXT = (
    "Progress is kept in a journal next to FILE (FILE.journal), so running the same command "
    "again after an interruption, a crash or a kill resumes where it stopped, none twice. "
    "Bad lines are reported and skipped. A spent plan quota, a refused token or a missing "
    "permission stops the run at once, saying how many items were not attempted. Ctrl-C "
    "stops taking new items and waits for those in flight; a second Ctrl-C abandons them."
)

AddOptions = Callable[[argparse.ArgumentParser], None]


def add_format(command: argparse.ArgumentParser) -> None:
    """``--format``: how a bulk command reads its FILE."""
    command.add_argument(
        "--format", choices=("auto", "jsonl", "csv"), default="auto", help="default: by suffix"
    )


def _file_command(
    commands: Commands,
    name: str,
    summary: str,
    description: str,
    examples: tuple[str, ...],
    *parents: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """A group's bulk command, its help ending with its examples and the exit codes; its
    runner (``bulk_command``) is to resolve ``--project`` with :func:`with_project`."""
    command = add_command(
        commands,
        name,
        summary,
        f"{description} {_FILE_TEXT}",
        examples,
        *parents,
        epilog=EXIT_CODES,
    )
    command.add_argument("file", metavar="FILE")
    add_project(command, refuse_blank=False)
    add_format(command)
    return command


def _reword(command: argparse.ArgumentParser, **helps: str) -> None:
    """Say in the command's own words what the options it shares with ``bulk`` do."""
    for action in command._actions:
        if action.dest in helps:
            action.help = helps[action.dest]


def add_train_import(
    commands: Commands, parents: list[argparse.ArgumentParser], add_options: AddOptions
) -> None:
    """Add ``import`` to the ``train`` group: FILE's FAQs, texts or file URLs into a bot."""
    command = _file_command(
        commands,
        "import",
        "add every FAQ, text or file URL of a CSV or JSONL file; run it again to resume",
        "Train the project's bot on every item of FILE: CSV with a header row naming "
        "question,answer[,tags] (FAQs), [title,]text[,tags] (texts) or url[,tags] (files "
        "the service fetches), each with an optional key column; or JSON lines with those "
        "fields. Tags are comma-separated (quote the cell in CSV). Uses the organisation "
        "token (--token, or $YOURGPT_API_TOKEN).",
        EXAMPLES["train"],
        *parents,
    )
    add_options(command)
    _reword(
        command,
        rate="most items added per second (default: adaptive)",
        reconcile="after an add with no usable answer, look for it among the project's texts "
        "or files: found, it counts as added; missing, it is added again; in doubt only when "
        "that cannot tell; on resume, also settles what an earlier run left in doubt",
        resend_in_doubt="on resume, add again the items an earlier run left in doubt (may "
        "duplicate them)",
        no_journal="keep no journal: an interrupted run cannot be resumed, and running it "
        "again adds every item again",
    )
    command.set_defaults(bulk_command=with_project(train_import))


def add_contacts_tag(
    commands: Commands, parents: list[argparse.ArgumentParser], add_options: AddOptions
) -> None:
    """Add ``tag`` to the ``contacts`` group: FILE's tags linked to contacts."""
    command = _file_command(
        commands,
        "tag",
        "link the tags of a CSV or JSONL file to its contacts; run it again to resume",
        "Link tags to contacts: CSV with a header row naming contact_id,tags[,key] (tags "
        "comma-separated, the cell quoted; the tags must exist), or JSON lines with those "
        "fields. Linking is safe to repeat. Uses the organisation token (--token, or "
        "$YOURGPT_API_TOKEN).",
        EXAMPLES["contacts"],
        *parents,
    )
    add_options(command)
    _reword(command, rate="most contacts tagged per second (default: adaptive)")
    command.set_defaults(bulk_command=with_project(contacts_tag))

"""The ``yourgpt-async`` command line (also ``python -m yourgpt_async``).

Commands: ``demo``, ``send``, ``sessions``, ``messages``, ``bulk`` and ``emulator``. The options
``--api-key``, ``--widget-uid`` and ``--base-url`` (before or after the command) fall back to
``YOURGPT_API_KEY``, ``YOURGPT_WIDGET_UID`` and ``YOURGPT_BASE_URL``. With the ``cli`` extra
(rich) output is rich; without it, plain.

Exit codes: 0 success (``bulk``: every item sent, now or by an earlier run), 1 an API error or,
for ``bulk``, an item failed, in doubt or on a bad input line, 2 a usage or configuration error,
130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any, TextIO

import attrs

from ._bulk import BulkItem, BulkOutcome, BulkRun, BulkSummary, Failed, InDoubt, Sent
from ._bulk._items import prepare
from ._client import AsyncClient
from ._config import RateLimit
from ._exceptions import ConfigurationError, YourGPTError
from ._models import ChatMode, ContentType, Message, SendBy, Session, SessionMessage

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_BULK_FIELDS = ("session_uid", "message", "send_by", "key")


class _Printer:
    """Prints through rich when the ``cli`` extra is installed, plainly otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.console: Any = None
        try:
            from rich.console import Console
        except ImportError:
            return
        self.console = Console(file=stream, highlight=False)

    def step(self, title: str) -> None:
        if self.console is not None:
            self.console.rule(f"[bold]{title}")
        else:
            print(f"\n== {title}", file=self._stream)

    def line(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, markup=False, soft_wrap=True)
        else:
            print(text, file=self._stream)

    def json(self, value: object) -> None:
        # Plain print, never rich: a script reads this.
        print(json.dumps(value, ensure_ascii=False, default=_json_default), file=self._stream)


def _json_default(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _plain(model: attrs.AttrsInstance) -> dict[str, Any]:
    """A model as a JSON-ready dict (its ``raw`` copy left out)."""
    return attrs.asdict(
        model,
        filter=lambda attribute, _: attribute.name != "raw",
        value_serializer=lambda _, __, value: (
            _json_default(value) if isinstance(value, (datetime, date, Enum)) else value
        ),
    )


def _client(args: argparse.Namespace, **options: Any) -> AsyncClient:
    return AsyncClient(args.api_key, widget_uid=args.widget_uid, base_url=args.base_url, **options)


# -- demo ------------------------------------------------------------------------------------


async def _demo(args: argparse.Namespace, out: _Printer) -> int:
    """Walk a full round trip: the real service with a key, else the embedded emulator."""
    api_key = args.api_key or os.environ.get("YOURGPT_API_KEY")
    if api_key:
        client = AsyncClient(api_key, widget_uid=args.widget_uid, base_url=args.base_url)
        out.line(f"An API key is set: running against {client.base_url}")
        return await _round_trip(client, out)
    from .testing import Emulator

    async with Emulator() as emulator:
        out.line(
            f"No YOURGPT_API_KEY: running against the embedded emulator at {emulator.base_url}"
        )
        client = AsyncClient(
            emulator.api_key, widget_uid=emulator.widget_uid, base_url=emulator.base_url
        )
        return await _round_trip(client, out)


async def _round_trip(client: AsyncClient, out: _Printer) -> int:
    async with client as yg:
        out.step("1. create a session")
        session = await yg.create_session()
        out.line(f"session_uid={session.session_uid} chat_mode={session.chat_mode}")

        out.step("2. the user asks; the AI answers")
        reply = await yg.send_message(session.session_uid, "Can you help me with billing?")
        out.line(f"AI: {reply.message}")
        if reply.content_type == ContentType.PICKER:
            out.line(
                "choices: " + ", ".join(f"{c.icon} {c.text} [{c.value}]" for c in reply.choices)
            )

        out.step("3. an operator takes over; the AI goes quiet")
        await yg.send_message(
            session.session_uid, "Hi, Dana here from billing.", send_by=SendBy.OPERATOR
        )
        quiet = await yg.send_message(session.session_uid, "Thanks Dana!")
        answered = quiet.send_by != SendBy.USER  # a reply from the AI, not the stored message
        out.line(f"user message stored, AI reply: {quiet.message if answered else 'none'}")

        out.step("4. hand the session back to the bot")
        updated = await yg.update_session(session.session_uid, chat_mode=ChatMode.BOT)
        out.line(f"chat_mode={updated.chat_mode}")
        again = await yg.send_message(session.session_uid, "One more question?")
        out.line(f"AI: {again.message}")

        out.step("5. the conversation so far")
        async for message in yg.iter_session_messages(session.session_uid):
            out.line(f"{message.send_by!s:>9}: {message.message}")
    return EXIT_OK


# -- create-session, send, sessions, messages --------------------------------------------------


async def _create_session(args: argparse.Namespace, out: _Printer) -> int:
    async with _client(args) as yg:
        session = await yg.create_session()
    if args.json:
        out.json(_plain(session))
    else:
        out.line(session.session_uid)
    return EXIT_OK


async def _send(args: argparse.Namespace, out: _Printer) -> int:
    async with _client(args) as yg:
        reply = await yg.send_message(args.session_uid, args.message, send_by=args.send_by)
    if args.json:
        out.json(_plain(reply))
        return EXIT_OK
    _print_reply(reply, out)
    return EXIT_OK


def _print_reply(reply: Message, out: _Printer) -> None:
    out.line(f"{reply.send_by or 'reply'} (message {reply.id}): {reply.message}")
    for choice in reply.choices:
        out.line(f"  [{choice.value}] {choice.icon or ''} {choice.text}".rstrip())


async def _sessions(args: argparse.Namespace, out: _Printer) -> int:
    async with _client(args) as yg:
        page = await yg.get_sessions(page=args.page, limit=args.limit)
    if args.json:
        out.json(
            {
                "page": page.page,
                "limit": page.limit,
                "total": page.total,
                "has_more": page.has_more,
                "items": [_plain(session) for session in page.items],
            }
        )
        return EXIT_OK
    _print_sessions(page.items, out)
    total = "?" if page.total is None else page.total
    more = f"; next: --page {page.page + 1}" if page.has_more else ""
    out.line(f"page {page.page}, {len(page.items)} of {total} sessions{more}")
    return EXIT_OK


def _print_sessions(sessions: Sequence[Session], out: _Printer) -> None:
    columns = ("session_uid", "state", "chat mode", "last message", "updated")
    rows = [
        (
            s.session_uid,
            str(s.state or ""),
            str(s.chat_mode or ""),
            (s.last_message or "")[:40],
            "" if s.updated_at is None else s.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
        for s in sessions
    ]
    if out.console is not None and out.console.is_terminal:
        from rich.table import Table

        table = Table(*columns)
        # The uid is what people copy: never wrap or cut it, whatever the width.
        table.columns[0].no_wrap = True
        table.columns[0].min_width = max((len(row[0]) for row in rows), default=11)
        for row in rows:
            table.add_row(*row)
        out.console.print(table)
        return
    out.line("\t".join(columns))
    for row in rows:
        out.line("\t".join(row))


async def _messages(args: argparse.Namespace, out: _Printer) -> int:
    messages: list[SessionMessage] = []
    async with _client(args) as yg:
        async for message in yg.iter_session_messages(args.session_uid):
            if args.json:
                messages.append(message)
            else:
                out.line(f"{message.send_by!s:>9}: {message.message}")
    if args.json:
        out.json([_plain(message) for message in messages])
    return EXIT_OK


# -- emulator --------------------------------------------------------------------------------


def _emulator(args: argparse.Namespace) -> int:
    from .testing import serve_main

    argv = ["--host", args.host, "--port", str(args.port), "--ai-latency", str(args.ai_latency)]
    if args.rate_limit is not None:
        argv += ["--rate-limit", args.rate_limit]
    if args.fault_plan is not None:
        argv += ["--fault-plan", args.fault_plan]
    if args.api_key is not None:
        argv += ["--api-key", args.api_key]
    if args.widget_uid is not None:
        argv += ["--widget-uid", args.widget_uid]
    return serve_main(argv)


# -- bulk ------------------------------------------------------------------------------------


class _BadLine(ValueError):
    """An input line that is not an item."""


class _InputFile:
    """Reads bulk items from a JSONL or CSV file lazily, reporting and skipping bad lines."""

    def __init__(self, path: Path, form: str, on_bad: Callable[[int, str], None]) -> None:
        self.path = path
        self.form = form if form != "auto" else _guess_format(path)
        self.on_bad = on_bad
        self.bad_lines = 0

    def count(self) -> int:
        """The number of items-to-be (non-blank lines, less a CSV header), for the ETA."""
        total = 0
        with self.path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    total += 1
        if self.form == "csv" and total:
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                first = next(csv.reader(handle), [])
            if _is_header(first):
                total -= 1
        return total

    def __iter__(self) -> Iterator[BulkItem]:
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            rows = self._jsonl(handle) if self.form == "jsonl" else self._csv(handle)
            for number, row in rows:
                try:
                    if isinstance(row, _BadLine):
                        raise row
                    item = _checked_item(row, number)
                except _BadLine as error:
                    self.bad_lines += 1
                    self.on_bad(number, str(error))
                    continue
                yield item

    @staticmethod
    def _jsonl(handle: IO[str]) -> Iterator[tuple[int, dict[str, object] | _BadLine]]:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                yield number, _BadLine(f"not valid JSON ({getattr(error, 'msg', error)})")
                continue
            if not isinstance(record, dict):
                yield number, _BadLine(f"expected a JSON object, got {_kind(record)}")
                continue
            unknown = sorted(set(record) - set(_BULK_FIELDS))
            if unknown:
                yield number, _BadLine(f"unknown field(s): {', '.join(unknown)}")
                continue
            yield number, record

    @staticmethod
    def _csv(handle: IO[str]) -> Iterator[tuple[int, dict[str, object] | _BadLine]]:
        reader = csv.reader(handle)
        columns: Sequence[str] = _BULK_FIELDS
        first = True
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if first:
                first = False
                if _is_header(row):
                    columns = [cell.strip().lower() for cell in row]
                    unknown = sorted(set(columns) - set(_BULK_FIELDS))
                    if unknown:
                        raise ConfigurationError(
                            f"{handle.name}: the CSV header may name only session_uid, message, "
                            f"send_by and key; got {', '.join(row)}"
                        )
                    continue
            if len(row) > len(columns):
                yield number, _BadLine(f"{len(row)} columns, expected at most {len(columns)}")
                continue
            yield (
                number,
                {name: cell for name, cell in zip(columns, row, strict=False) if cell != ""},
            )


def _guess_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    with path.open(encoding="utf-8-sig") as handle:
        for line in handle:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "csv"
    return "jsonl"


def _is_header(row: Sequence[str]) -> bool:
    names = {cell.strip().lower() for cell in row}
    return "session_uid" in names and "message" in names


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", type(None): "null"}.get(type(value), "a number")


def _checked_item(record: dict[str, object], number: int) -> BulkItem:
    """Build an item from a parsed line with bulk's own checks (a bad line is skipped)."""
    missing = [name for name in ("session_uid", "message") if record.get(name) is None]
    if missing:
        raise _BadLine(f"missing {' and '.join(missing)}")
    fields = (
        record.get("session_uid"),
        record.get("message"),
        record.get("send_by") or SendBy.USER,
        record.get("key"),
    )
    prepared = prepare(fields, number)
    if prepared.problem is not None:
        raise _BadLine(prepared.problem)
    return prepared.item


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


class _Results:
    """Appends one JSON line per outcome to ``--output``."""

    def __init__(self, path: Path | None) -> None:
        self._handle: IO[str] | None = None
        if path is not None:
            self._handle = path.open("a", encoding="utf-8")

    def write(self, outcome: BulkOutcome) -> None:
        if self._handle is None:
            return
        record: dict[str, object] = {
            "index": outcome.index,
            "key": outcome.key,
            "session_uid": outcome.item.session_uid,
            "status": outcome.status,
        }
        match outcome:
            case Sent(reply=reply):
                record.update(message_id=reply.id, reply=reply.message)
            case Failed(error=error) | InDoubt(error=error):
                record.update(error=str(error))
        self._handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _bulk(args: argparse.Namespace, out: _Printer) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise ConfigurationError(f"bulk: no such file: {args.file!r}")
    source = _InputFile(path, args.format, lambda number, text: None)
    return asyncio.run(_bulk_run(args, out, source, source.count()))


async def _bulk_run(args: argparse.Namespace, out: _Printer, source: _InputFile, total: int) -> int:
    path = source.path
    rate_limit = None if args.rate is None else RateLimit(per_second=args.rate)
    client = _client(args, rate_limit=rate_limit, max_concurrency=args.concurrency)
    progress = _Progress(args.progress, args.progress_every, total)
    source.on_bad = lambda number, text: progress.log(f"{path}:{number}: skipped: {text}")
    results = _Results(None if args.output is None else Path(args.output))
    interrupted = False
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    run: BulkRun | None = None

    def on_signal() -> None:
        nonlocal interrupted
        if not interrupted and run is not None:
            interrupted = True
            run.stop()
            progress.log(
                f"interrupted: taking no new items; waiting for {run.summary().in_flight} in "
                "flight (interrupt again to abandon them)"
            )
        elif main_task is not None:
            interrupted = True
            main_task.cancel()

    def on_progress(summary: BulkSummary) -> None:
        progress.update(summary, source.bad_lines)
        results.flush()

    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal)
            handled.append(signum)
    try:
        async with client:
            run = client.send_many(
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
        if not interrupted:
            raise
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        results.close()
        if run is not None:
            progress.update(run.summary(), source.bad_lines, force=True)
        progress.close()
    if run is None:
        return EXIT_INTERRUPTED
    summary = run.summary()
    if args.json:
        out.json(
            {
                **attrs.asdict(summary),
                "rate": summary.rate,
                "bad_lines": source.bad_lines,
                "interrupted": interrupted,
            }
        )
    else:
        out.line(
            f"{'interrupted' if interrupted else 'done'} in {summary.elapsed:.1f}s: "
            f"sent {summary.sent}, failed {summary.failed}, in doubt {summary.in_doubt}, "
            f"skipped (already sent) {summary.skipped}, bad lines {source.bad_lines}"
            + (f", abandoned in flight {summary.cancelled}" if summary.cancelled else "")
            + f"; {summary.rate:.1f} sent/s"
        )
    if interrupted:
        return EXIT_INTERRUPTED
    if summary.failed or summary.in_doubt or source.bad_lines or summary.cancelled:
        return EXIT_FAILED
    return EXIT_OK


# -- the parser ------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _connection_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--api-key", default=default, help="the project API key (default: $YOURGPT_API_KEY)"
    )
    parser.add_argument(
        "--widget-uid", default=default, help="the widget id (default: $YOURGPT_WIDGET_UID)"
    )
    parser.add_argument(
        "--base-url", default=default, help="the API base URL (default: $YOURGPT_BASE_URL)"
    )


_EPILOG = """\
exit codes: 0 success; 1 an API error, or for bulk an item failed, in doubt or on a bad line;
2 usage or configuration error; 130 interrupted (Ctrl-C or SIGTERM)"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yourgpt-async",
        description="Talk to YourGPT's chatbot API, or to the embedded emulator.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection_options(parser, None)
    # The same options after the command; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, argparse.SUPPRESS)
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "demo",
        parents=[common],
        help="walk a round trip: against the emulator without a key, the service with one",
    )

    commands.add_parser(
        "create-session",
        parents=[common, as_json],
        help="create a session for the widget and print its session_uid",
    )

    send = commands.add_parser("send", parents=[common, as_json], help="send one message")
    send.add_argument("session_uid", metavar="SESSION_UID")
    send.add_argument("message", metavar="MESSAGE")
    send.add_argument(
        "--as",
        dest="send_by",
        choices=[member.value for member in SendBy],
        default=SendBy.USER.value,
        help="who the message is from (default: user)",
    )

    sessions = commands.add_parser(
        "sessions", parents=[common, as_json], help="list one page of sessions"
    )
    sessions.add_argument("--page", type=_positive_int, default=1, help="from 1 (default: 1)")
    sessions.add_argument(
        "--limit", type=_positive_int, default=10, help="sessions per page, 1-100 (default: 10)"
    )

    messages = commands.add_parser(
        "messages", parents=[common, as_json], help="list all messages of a session"
    )
    messages.add_argument("session_uid", metavar="SESSION_UID")

    bulk = commands.add_parser(
        "bulk",
        parents=[common, as_json],
        help="send every message of a JSONL or CSV file",
        description=(
            "Send every message of FILE: JSON lines with session_uid, message and optionally "
            "send_by and key, or CSV with the columns session_uid,message[,send_by][,key] "
            "(with or without that header). Bad lines are reported and skipped. With "
            "--journal a killed or interrupted run resumes where it stopped without sending "
            "a delivered message twice. Ctrl-C stops taking new items and waits for those in "
            "flight; a second Ctrl-C abandons them."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bulk.add_argument("file", metavar="FILE")
    bulk.add_argument(
        "--format", choices=("auto", "jsonl", "csv"), default="auto", help="default: by suffix"
    )
    bulk.add_argument(
        "--concurrency", type=_positive_int, default=16, help="most in flight (default: 16)"
    )
    bulk.add_argument(
        "--rate", type=_positive_float, help="most messages per second (default: adaptive)"
    )
    bulk.add_argument("--journal", help="record progress here, and resume from it if it exists")
    bulk.add_argument(
        "--resend-in-doubt",
        action="store_true",
        help="on resume, resend items an earlier run left in doubt (may duplicate them)",
    )
    bulk.add_argument("--output", help="append one JSON line per outcome to this file")
    bulk.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "none"),
        default="auto",
        help="a live bar on a terminal, periodic lines otherwise (default: auto)",
    )
    bulk.add_argument(
        "--progress-every",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines (default: 5)",
    )

    emulator = commands.add_parser("emulator", help="serve the API emulator until Ctrl-C")
    # Its own key and widget: what the emulator accepts, not what a client sends.
    emulator.add_argument(
        "--api-key", default=argparse.SUPPRESS, help="the key it accepts (default: its own)"
    )
    emulator.add_argument(
        "--widget-uid", default=argparse.SUPPRESS, help="the key's widget (default: its own)"
    )
    emulator.add_argument("--base-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    emulator.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8089, help="0 for any (default: 8089)")
    emulator.add_argument(
        "--rate-limit", metavar="PER_SECOND[/BURST]", help="per-key limit, e.g. 200/20"
    )
    emulator.add_argument("--fault-plan", metavar="FILE", help="faults to apply (JSON)")
    emulator.add_argument(
        "--ai-latency", type=float, default=0.0, help="seconds before each AI reply"
    )
    return parser


_COMMANDS = {
    "demo": _demo,
    "create-session": _create_session,
    "send": _send,
    "sessions": _sessions,
    "messages": _messages,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    out = _Printer(sys.stdout)
    try:
        if args.command == "emulator":
            return _emulator(args)
        if args.command == "bulk":
            return _bulk(args, out)
        return asyncio.run(_COMMANDS[args.command](args, out))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ConfigurationError as error:
        print(f"yourgpt-async: {error}", file=sys.stderr)
        return EXIT_USAGE
    except YourGPTError as error:
        print(f"yourgpt-async: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:
        print(f"yourgpt-async: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

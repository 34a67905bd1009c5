"""The command line's arguments: one ``argparse`` parser, built a command at a time."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from .._models import SendBy

__all__ = ["build_parser"]


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


def _reconcile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="after a send with no usable answer, read the session back: found, it counts as "
        "sent; missing, it is sent again; in doubt only when that cannot tell (with --journal, "
        "also settles what an earlier run left in doubt)",
    )


_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

_EPILOG = """\
exit codes: 0 success; 1 an API error, or for bulk an item failed, in doubt or on a bad line;
2 usage or configuration error; 130 interrupted (Ctrl-C or SIGTERM)"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
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
    _add_calls(commands, common, as_json)
    _add_bulk(commands, common, as_json)
    _add_emulator(commands)
    return parser


def _add_calls(
    commands: _Commands, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser
) -> None:
    """Add demo, create-session, send, sessions and messages."""
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
    _reconcile_option(send)
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


def _add_bulk(
    commands: _Commands, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser
) -> None:
    """Add bulk."""
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
    _reconcile_option(bulk)
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


def _add_emulator(commands: _Commands) -> None:
    """Add emulator, with the emulator's own options (``python -m yourgpt_async.testing``)."""
    from ..testing._cli import add_options

    emulator = commands.add_parser("emulator", help="serve the API emulator until Ctrl-C")
    add_options(emulator)
    emulator.add_argument("--base-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

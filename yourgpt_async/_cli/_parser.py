"""The command line's arguments: one ``argparse`` parser, built a command at a time."""

from __future__ import annotations

import argparse

from .. import __version__
from .._config import DEFAULT_MAX_CONCURRENCY
from ..types import ChatMode, SendBy, SessionState
from . import _api_command, _contacts_command, _org_command, _project_command, _train_command
from ._args import (
    EXAMPLES,
    EXIT_CODES,
    Commands,
    Parents,
    add_command,
    positive_float,
    positive_int,
)
from ._args import order as _order
from ._bulk_command import add_contacts_tag, add_format, add_train_import
from ._bulk_command import bulk as run_bulk

__all__ = ["EXAMPLES", "build_parser"]


def _connection_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if default is None else default,
        help="log retries and slow-downs on stderr; -vv also each request",
    )
    parser.add_argument(
        "--api-key", default=default, help="the project API key (default: $YOURGPT_API_KEY)"
    )
    parser.add_argument(
        "--token",
        default=default,
        help="an organisation's API token, for the Platform API's commands "
        "(default: $YOURGPT_API_TOKEN)",
    )
    parser.add_argument(
        "--widget-uid", default=default, help="the widget id (default: $YOURGPT_WIDGET_UID)"
    )
    parser.add_argument(
        "--base-url", default=default, help="the API base URL (default: $YOURGPT_BASE_URL)"
    )


_RECONCILE = (
    "after a send with no usable answer, read the session back: found, it counts as sent; "
    "missing, it is sent again; in doubt only when that cannot tell"
)

_EPILOG = f"""\
A project's API key (--api-key, $YOURGPT_API_KEY) opens the Project Integration API:
conversations, logs, search and calls. An organisation's token (--token, $YOURGPT_API_TOKEN)
opens the Platform API: projects, train, contacts, tags, members, and logs or search with
--project. api calls any endpoint of either.

examples:
  yourgpt-async demo
  yourgpt-async send "$uid" "Do you ship to Norway?"
  yourgpt-async bulk messages.csv
  yourgpt-async projects list
  yourgpt-async train add-faq "Do you ship to Norway?" "Yes, in 3-5 days." --project "$project"
  yourgpt-async api getMyProjects -F limit=5
  yourgpt-async COMMAND --help            each command's options, with examples

{EXIT_CODES}"""

# Each command's --help ends with examples; tests parse every one of them.
_EXAMPLES: dict[str, tuple[str, ...]] = {
    "demo": (
        "yourgpt-async demo                      against the embedded emulator",
        "yourgpt-async demo --yes                against the service $YOURGPT_API_KEY opens",
    ),
    "create-session": (
        "uid=$(yourgpt-async create-session)",
        "yourgpt-async create-session --json",
    ),
    "send": (
        'yourgpt-async send "$uid" "Do you ship to Norway?"',
        'yourgpt-async send "$uid" "Dana here, from billing." --as operator',
        'yourgpt-async send "$uid" "Hello" --reconcile --json',
    ),
    "update-session": (
        'yourgpt-async update-session "$uid" --chat-mode bot',
        'yourgpt-async update-session "$uid" --state resolved --segment vip,billing',
    ),
    "sessions": (
        "yourgpt-async sessions --limit 20",
        "yourgpt-async sessions --page 2 --json",
    ),
    "messages": (
        'yourgpt-async messages "$uid"',
        'yourgpt-async messages "$uid" --order DESC --limit 5 --json',
    ),
    "bulk": (
        "yourgpt-async bulk messages.csv         journal: messages.csv.journal",
        "yourgpt-async bulk messages.csv         again after Ctrl-C: resumes",
        "yourgpt-async bulk messages.jsonl --rate 20 --output results.jsonl",
        "yourgpt-async bulk messages.jsonl --no-journal --progress lines",
    ),
    "emulator": (
        "yourgpt-async emulator --port 8089",
        "yourgpt-async emulator --rate-limit 20/5 --retry-after none --ai-latency 0.5",
        "yourgpt-async emulator --seed seed.json    contacts, members, tokens, limits...",
    ),
    "completion": (
        'eval "$(yourgpt-async completion bash)"     in ~/.bashrc',
        'eval "$(yourgpt-async completion zsh)"      in ~/.zshrc, after compinit',
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    parser = argparse.ArgumentParser(
        prog="yourgpt-async",
        description="Talk to YourGPT's chatbot API, or to the embedded emulator.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"yourgpt-async {__version__}")
    _connection_options(parser, None)
    # The same options after the command; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, argparse.SUPPRESS)
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON for scripts")
    parents = Parents(common, as_json)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_calls(commands, parents)
    _add_bulk(commands, parents)
    _project_command.add_parsers(commands, parents)
    _org_command.add_projects(commands, parents)
    _add_platform(commands, parents)
    _org_command.add_members(commands, parents)
    _api_command.add_parser(commands, parents)
    _add_emulator(commands)
    completion = _command(
        commands,
        "completion",
        "print a shell completion script (bash or zsh)",
        "Print the script that completes this command's subcommands, options and their "
        "values in bash or zsh; load it from the shell's start-up file.",
    )
    completion.add_argument("shell", choices=("bash", "zsh"), metavar="{bash,zsh}")
    return parser


def _command(
    commands: Commands,
    name: str,
    summary: str,
    description: str,
    *parents: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """A conversation command, with its examples from ``_EXAMPLES``."""
    return add_command(commands, name, summary, description, _EXAMPLES[name], *parents)


def _add_calls(commands: Commands, parents: Parents) -> None:
    """Add demo, create-session, send, and through the helpers below the others."""
    demo = _command(
        commands,
        "demo",
        "walk a round trip: against the emulator without a key, the service with one",
        "Create a session, ask, let an operator take over, hand back to the bot and list the "
        "messages. Without an API key it runs against an embedded emulator; with one it asks "
        "before writing to a chatbot that is not on this machine.",
        parents.common,
    )
    demo.add_argument(
        "-y", "--yes", action="store_true", help="run against the real service without asking"
    )
    _command(
        commands,
        "create-session",
        "create a session for the widget and print its session_uid",
        "Create a chat session for the widget and print its session_uid (--json: the session).",
        parents.common,
        parents.as_json,
    )
    send = _command(
        commands,
        "send",
        "send one message",
        "Send MESSAGE into the session and print the reply: the AI's answer to a user "
        "message, with its choices, else the stored message. --as operator takes the session "
        "over from the AI until update-session --chat-mode bot.",
        parents.common,
        parents.as_json,
    )
    send.add_argument("session_uid", metavar="SESSION_UID")
    send.add_argument("message", metavar="MESSAGE")
    send.add_argument("--reconcile", action="store_true", help=_RECONCILE)
    send.add_argument(
        "--as",
        dest="send_by",
        choices=[member.value for member in SendBy],
        default=SendBy.USER.value,
        help="who the message is from (default: user)",
    )
    _add_update_session(commands, parents)
    _add_lists(commands, parents)


def _add_lists(commands: Commands, parents: Parents) -> None:
    """Add sessions and messages."""
    sessions = _command(
        commands,
        "sessions",
        "list one page of sessions",
        "List one page of the project's sessions, oldest activity first.",
        parents.common,
        parents.as_json,
    )
    sessions.add_argument("--page", type=positive_int, default=1, help="from 1 (default: 1)")
    sessions.add_argument(
        "--limit", type=positive_int, default=10, help="sessions per page, 1-100 (default: 10)"
    )
    messages = _command(
        commands,
        "messages",
        "list the messages of a session",
        "List a session's messages, oldest first (--order DESC: newest first), fetching page "
        "after page; --limit stops after that many.",
        parents.common,
        parents.as_json,
    )
    messages.add_argument("session_uid", metavar="SESSION_UID")
    messages.add_argument(
        "--order", type=_order, default="ASC", help="ASC, oldest first (default), or DESC"
    )
    messages.add_argument(
        "--limit", type=positive_int, help="list at most this many (default: all)"
    )


def _add_update_session(commands: Commands, parents: Parents) -> None:
    update = _command(
        commands,
        "update-session",
        "change a session's state, chat mode or segment",
        "Change a session's state, chat mode or segment tags. --chat-mode bot hands a session "
        "an operator took over back to the AI; --state resolved does too.",
        parents.common,
        parents.as_json,
    )
    update.add_argument("session_uid", metavar="SESSION_UID")
    update.add_argument("--state", choices=[member.value for member in SessionState])
    update.add_argument(
        "--chat-mode",
        choices=[member.value for member in ChatMode],
        help="bot: the AI answers again; operator or awaiting: it stays silent",
    )
    update.add_argument("--segment", metavar="TAGS", help="comma-separated tags (replaces them)")


def _add_bulk(commands: Commands, parents: Parents) -> None:
    """Add bulk."""
    bulk = add_command(
        commands,
        "bulk",
        "send every message of a JSONL or CSV file; run it again to resume",
        "Send every message of FILE: JSON lines with session_uid, message and optionally "
        "send_by and key, or CSV with a header naming those columns (without a header, "
        "the columns are session_uid,message[,send_by][,key]). Bad lines are reported and "
        "skipped. Progress is kept in a journal next to FILE (FILE.journal), so running "
        "the same command again after an interruption, a crash or a kill resumes where it "
        "stopped without sending a delivered message twice. Ctrl-C stops taking new items "
        "and waits for those in flight; a second Ctrl-C abandons them.",
        _EXAMPLES["bulk"],
        parents.common,
        parents.as_json,
        epilog=EXIT_CODES,
    )
    bulk.add_argument("file", metavar="FILE")
    add_format(bulk)
    _add_bulk_options(bulk)
    bulk.set_defaults(bulk_command=run_bulk)


def _add_platform(commands: Commands, parents: Parents) -> None:
    """Add the train, contacts and tags groups, with the bulk commands of the first two (train
    import, contacts tag FILE)."""
    bulk_parents = [parents.common, parents.as_json]
    train = _train_command.add_parsers(commands, parents)
    add_train_import(train, bulk_parents, _add_bulk_options)
    contacts = _contacts_command.add_parsers(commands, parents)
    add_contacts_tag(
        contacts, bulk_parents, lambda command: _add_bulk_options(command, settles=False)
    )
    _contacts_command.add_one_contact(contacts)
    _contacts_command.add_tags(commands, parents)


def _add_bulk_options(bulk: argparse.ArgumentParser, *, settles: bool = True) -> None:
    """Add bulk's options: its pace, journal, output and progress (and, for calls that are not
    safe to repeat, how to settle those in doubt)."""
    bulk.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_MAX_CONCURRENCY,
        help=f"most in flight (default: {DEFAULT_MAX_CONCURRENCY}, as the library's)",
    )
    bulk.add_argument(
        "--rate", type=positive_float, help="most messages per second (default: adaptive)"
    )
    journal = bulk.add_mutually_exclusive_group()
    journal.add_argument(
        "--journal", help="keep the journal here rather than in FILE.journal", metavar="PATH"
    )
    journal.add_argument(
        "--no-journal",
        action="store_true",
        help="keep no journal: an interrupted run cannot be resumed, and running it again "
        "sends every item again",
    )
    if settles:
        bulk.add_argument(
            "--resend-in-doubt",
            action="store_true",
            help="on resume, resend items an earlier run left in doubt (may duplicate them)",
        )
        bulk.add_argument(
            "--reconcile",
            action="store_true",
            help=f"{_RECONCILE}; on resume, also settles what an earlier run left in doubt",
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
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines (default: 5)",
    )


def _add_emulator(commands: Commands) -> None:
    """Add emulator, with the emulator's own options (``python -m yourgpt_async.testing``)."""
    from ..testing._cli import add_options

    emulator = _command(
        commands,
        "emulator",
        "serve the API emulator until Ctrl-C",
        "Serve the emulator of the API, both families, until Ctrl-C, as python -m "
        "yourgpt_async.testing does, and print the export lines that point YOURGPT_* at it: "
        "the base URL, an API key and its widget, an organisation token and a project_uid. "
        "--seed FILE.json fills it with documents, training, contacts, members, tokens and "
        "plan limits.",
    )
    add_options(emulator)
    emulator.add_argument("--base-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

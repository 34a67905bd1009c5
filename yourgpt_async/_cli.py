"""The ``yourgpt-async`` command line (also ``python -m yourgpt_async``).

Global options ``--api-key``, ``--widget-uid`` and ``--base-url`` fall back to
``YOURGPT_API_KEY``, ``YOURGPT_WIDGET_UID`` and ``YOURGPT_BASE_URL``. Exit codes: 0 success,
1 some items failed, 2 usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ._client import AsyncClient
from ._exceptions import ConfigurationError, YourGPTError
from ._models import ChatMode, ContentType, SendBy

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Printer:
    """Prints through rich when the ``cli`` extra is installed, plainly otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._console: Any = None
        try:
            from rich.console import Console
        except ImportError:
            return
        self._console = Console(file=stream, highlight=False)

    def step(self, title: str) -> None:
        if self._console is not None:
            self._console.rule(f"[bold]{title}")
        else:
            print(f"\n== {title}", file=self._stream)

    def line(self, text: str) -> None:
        if self._console is not None:
            self._console.print(text, markup=False)
        else:
            print(text, file=self._stream)


async def _demo(args: argparse.Namespace, out: _Printer) -> int:
    """Walk a full round trip: the real service with a key, else the embedded emulator."""
    api_key = args.api_key or os.environ.get("YOURGPT_API_KEY")
    if api_key:
        out.line("YOURGPT_API_KEY is set: running against the real service.")
        client = AsyncClient(api_key, widget_uid=args.widget_uid, base_url=args.base_url)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yourgpt-async",
        description="Talk to YourGPT's chatbot API, or to the embedded emulator.",
    )
    parser.add_argument("--api-key", help="the project API key (default: $YOURGPT_API_KEY)")
    parser.add_argument("--widget-uid", help="the widget id (default: $YOURGPT_WIDGET_UID)")
    parser.add_argument("--base-url", help="the API base URL (default: $YOURGPT_BASE_URL)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "demo",
        help="walk a round trip: against the emulator without a key, the service with one",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    out = _Printer(sys.stdout)
    try:
        if args.command == "demo":
            return asyncio.run(_demo(args, out))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ConfigurationError as error:
        print(f"yourgpt-async: {error}", file=sys.stderr)
        return EXIT_USAGE
    except YourGPTError as error:
        print(f"yourgpt-async: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE

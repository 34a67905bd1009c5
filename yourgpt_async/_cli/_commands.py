"""The commands that make one call or a few: ``demo``, ``create-session``, ``send``,
``update-session``, ``sessions``, ``messages``, and ``emulator`` (which serves the emulator)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from yarl import URL

from .. import _settings as settings
from .. import _validate as check
from .._client import AsyncClient
from .._exceptions import ConfigurationError
from ..types import ChatMode, ContentType, Message, SendBy, Session, SessionMessage
from ._clients import client_for
from ._listing import show_page
from ._output import EXIT_OK, Printer, one_line, plain, when

__all__ = ["COMMANDS", "run_emulator"]


# -- demo ------------------------------------------------------------------------------------


async def _demo(args: argparse.Namespace, out: Printer) -> int:
    """Walk a full round trip: the real service with a key, else the embedded emulator."""
    api_key = check.from_env(args.api_key, "YOURGPT_API_KEY")
    if api_key:
        client = AsyncClient(api_key, widget_uid=args.widget_uid, base_url=args.base_url)
        if not (args.yes or settings.is_loopback(URL(client.base_url).host) or _agreed(client)):
            out.line("Nothing was sent.")
            return EXIT_OK
        out.line(f"An API key is set: running against {client.base_url}")
        return await _round_trip(client, out)
    from ..testing import Emulator

    async with Emulator() as emulator:
        out.line(
            f"No YOURGPT_API_KEY: running against the embedded emulator at {emulator.base_url}"
        )
        client = AsyncClient(
            emulator.api_key, widget_uid=emulator.widget_uid, base_url=emulator.base_url
        )
        return await _round_trip(client, out)


def _agreed(client: AsyncClient) -> bool:
    """Ask before the demo writes to a chatbot that is not on this machine."""
    where = f"the chatbot at {client.base_url} (widget {client.widget_uid or 'not set'})"
    if not sys.stdin.isatty():
        raise ConfigurationError(
            f"demo would create a session and send messages to {where}; pass --yes to run it "
            "without asking, or unset YOURGPT_API_KEY to run it against the embedded emulator"
        )
    answer = input(f"demo creates a session and sends 4 messages to {where}. Go on? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _round_trip(client: AsyncClient, out: Printer) -> int:
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
        out.line(f"user message stored, AI reply: {quiet.message if quiet.is_ai_reply else 'none'}")

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


async def _create_session(args: argparse.Namespace, out: Printer) -> int:
    async with client_for(args) as yg:
        session = await yg.create_session()
    if args.json:
        out.json(plain(session))
    else:
        out.line(session.session_uid)
    return EXIT_OK


async def _send(args: argparse.Namespace, out: Printer) -> int:
    async with client_for(args) as yg:
        reply = await yg.send_message(args.session_uid, args.message, send_by=args.send_by)
    if args.json:
        out.json(plain(reply))
        return EXIT_OK
    if reply.is_ai_reply or reply.send_by is None:
        _print_reply(reply, out)
    elif args.send_by == SendBy.USER.value:
        # Sent as the user, the reply is the message itself: an operator holds the session.
        out.line(
            f"the AI did not answer: an operator holds this session "
            f"(your message is stored as message {reply.id})"
        )
    else:
        out.line(f"stored as {reply.send_by} (message {reply.id}): {reply.message}")
    return EXIT_OK


async def _update_session(args: argparse.Namespace, out: Printer) -> int:
    async with client_for(args) as yg:
        session = await yg.update_session(
            args.session_uid, state=args.state, chat_mode=args.chat_mode, segment=args.segment
        )
    if args.json:
        out.json(plain(session))
    else:
        out.line(
            f"{session.session_uid}: state={session.state} chat_mode={session.chat_mode} "
            f"segment={session.segment or ''}"
        )
    return EXIT_OK


def _print_reply(reply: Message, out: Printer) -> None:
    out.line(f"{reply.send_by or 'reply'} (message {reply.id}): {reply.message}")
    for choice in reply.choices:
        out.line(f"  [{choice.value}] {choice.icon or ''} {choice.text}".rstrip())


async def _sessions(args: argparse.Namespace, out: Printer) -> int:
    async with client_for(args) as yg:
        page = await yg.get_sessions(page=args.page, limit=args.limit)
    columns = ("session_uid", "state", "chat mode", "last message", "updated")
    return await show_page(args, out, page, columns=columns, row=_session_row, noun="sessions")


def _session_row(s: Session) -> tuple[str, ...]:
    return (
        s.session_uid,
        str(s.state or ""),
        str(s.chat_mode or ""),
        one_line(s.last_message)[:40],
        when(s.updated_at),
    )


async def _messages(args: argparse.Namespace, out: Printer) -> int:
    messages: list[SessionMessage] = []
    page_size = min(args.limit or check.MAX_PAGE_SIZE, check.MAX_PAGE_SIZE)
    async with client_for(args) as yg:
        listed = yg.iter_session_messages(args.session_uid, order=args.order, limit=page_size)
        async for message in listed:
            messages.append(message)
            if not args.json:
                out.line(f"{message.send_by!s:>9}: {message.message}")
            if len(messages) == args.limit:
                break
    if args.json:
        out.json([plain(message) for message in messages])
    return EXIT_OK


# -- emulator --------------------------------------------------------------------------------


def run_emulator(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Serve the emulator as ``python -m yourgpt_async.testing`` would, with the same options."""
    from ..testing._cli import run_from_args

    return run_from_args(args, parser)


COMMANDS: dict[str, Callable[[argparse.Namespace, Printer], Coroutine[Any, Any, int]]] = {
    "demo": _demo,
    "create-session": _create_session,
    "send": _send,
    "update-session": _update_session,
    "sessions": _sessions,
    "messages": _messages,
}
"""The commands that run one coroutine, by name."""

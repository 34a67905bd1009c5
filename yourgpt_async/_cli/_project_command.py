"""``logs``, ``search`` and ``call``: the Project Integration API beyond conversations.

``logs`` and ``search`` serve both credentials, as their endpoints do: with ``--project UID``
they go through the Platform API with the organisation's token, and without it through the
project's API key. ``call`` is the key's only.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..types import ExecutionLog, KnowledgebaseHit
from ._args import (
    Commands,
    Parents,
    add_command,
    add_order,
    add_paging,
    add_project,
    day,
    e164,
    json_object,
    non_negative_int,
    nonblank,
    page_size,
    positive_int,
)
from ._clients import client_for, platform_client_for
from ._listing import Runner, show_page
from ._output import EXIT_OK, Printer, one_line, plain, when

__all__ = ["COMMANDS", "add_parsers"]

_VIA_TOKEN = (
    "a project's project_uid: read it through the Platform API, with the organisation's "
    "token (--token) (default: the project of the API key, --api-key)"
)


def add_parsers(commands: Commands, parents: Parents) -> None:
    """Add ``logs``, ``search`` and ``call``."""
    logs = add_command(
        commands,
        "logs",
        "list what the bot did in conversations (execution logs)",
        "List what the bot did in conversations, its actions and the flows it started, a page "
        "at a time, newest first (unlike the other lists). Without --project they are the API "
        "key's project's; with --project UID, that project's, read with the organisation's "
        "token.",
        (
            "yourgpt-async logs",
            'yourgpt-async logs --session "$uid" --order ASC',
            "yourgpt-async logs --from 2024-08-01 --to 2024-08-31 --all --json",
            'yourgpt-async logs --project "$project" --limit 5',
        ),
        parents.common,
        parents.as_json,
    )
    logs.add_argument(
        "--session", type=nonblank, metavar="SESSION_UID", help="only this session's logs"
    )
    logs.add_argument(
        "--from", dest="date_from", type=day, metavar="DAY", help="only from this day (YYYY-MM-DD)"
    )
    logs.add_argument(
        "--to", dest="date_to", type=day, metavar="DAY", help="only up to this day (YYYY-MM-DD)"
    )
    add_order(logs, "DESC, newest first")
    add_paging(logs, "entries")
    add_project(logs, help=_VIA_TOKEN)
    _add_search(commands, parents)
    _add_call(commands, parents)


def _add_search(commands: Commands, parents: Parents) -> None:
    search = add_command(
        commands,
        "search",
        "search what the bot was trained on (knowledge-base search)",
        "Search what the bot was trained on and print the best-matching chunks, best first. "
        "It pages by --offset: --offset 10 gives the second lot of ten. Without --project it "
        "searches the API key's project; with --project UID, that project, with the "
        "organisation's token. The service offers it on the Professional plan and above.",
        (
            'yourgpt-async search "How do I reset my password?"',
            'yourgpt-async search "password" --limit 3 --offset 3 --json',
            'yourgpt-async search "refund" --project "$project" --node 4400',
        ),
        parents.common,
        parents.as_json,
    )
    search.add_argument("query", type=nonblank, metavar="QUERY")
    search.add_argument(
        "--limit", type=positive_int, default=10, help="most chunks, 1-100 (default: 10)"
    )
    search.add_argument(
        "--offset", type=non_negative_int, help="chunks to skip, for the next lot (default: 0)"
    )
    search.add_argument(
        "--node", type=nonblank, metavar="DOC_ID", help="only chunks of this document"
    )
    add_project(search, help=_VIA_TOKEN)


def _add_call(commands: Commands, parents: Parents) -> None:
    call = add_command(
        commands,
        "call",
        "have the project's voice agent phone a number (never resent)",
        "Have the voice agent AGENT_ID phone NUMBER and hold the conversation. NUMBER is "
        "checked as E.164 ('+', the country code, then the number: 8 to 15 digits, no spaces) "
        "before anything is sent. A call is NEVER resent once it may have reached the "
        "service: a repeat would ring the person twice. When no answer comes back, the "
        "command exits 1 saying the call may have been placed; check the voice agent's call "
        "log before running it again. It needs the project's API key.",
        (
            "yourgpt-async call agent-7 +4915112345678",
            "yourgpt-async call agent-7 +4915112345678 --extra "
            '\'{"contact_data": {"name": "Ada"}}\'',
        ),
        parents.common,
        parents.as_json,
    )
    call.add_argument("agent_id", type=nonblank, metavar="AGENT_ID")
    call.add_argument("number", type=e164, metavar="NUMBER")
    call.add_argument(
        "--extra",
        type=json_object,
        metavar="JSON",
        help="data the agent may use in the call, a JSON object",
    )


# -- running them --------------------------------------------------------------------------------

_LOG_COLUMNS = ("session_uid", "when", "task", "type", "message")


def _log_row(log: ExecutionLog) -> tuple[str, ...]:
    return (
        log.session_uid or "",
        when(log.created_at),
        log.task or "",
        log.type or "",
        one_line(log.message, 60),
    )


async def _logs(args: argparse.Namespace, out: Printer) -> int:
    query: dict[str, Any] = {
        "session_uid": args.session,
        "date_from": args.date_from,
        "date_to": args.date_to,
        "order": args.order,
        "page": args.page,
        "limit": page_size(args),
    }
    if args.project is not None:
        async with platform_client_for(args) as yp:
            page = await yp.project(args.project).execution_logs.list(**query)
            return await show_page(
                args, out, page, columns=_LOG_COLUMNS, row=_log_row, noun="entries"
            )
    async with client_for(args) as yg:
        page = await yg.get_execution_logs(**query)
        return await show_page(args, out, page, columns=_LOG_COLUMNS, row=_log_row, noun="entries")


async def _search(args: argparse.Namespace, out: Printer) -> int:
    options: dict[str, Any] = {"limit": args.limit, "offset": args.offset, "node_id": args.node}
    hits: list[KnowledgebaseHit]
    if args.project is not None:
        async with platform_client_for(args) as yp:
            hits = await yp.project(args.project).knowledgebase.search(args.query, **options)
    else:
        async with client_for(args) as yg:
            hits = await yg.search_knowledgebase(args.query, **options)
    offset = args.offset or 0
    if args.json:
        out.json({"offset": offset, "limit": args.limit, "items": [plain(hit) for hit in hits]})
        return EXIT_OK
    out.table(
        ("doc_id", "score", "content"),
        [
            (
                hit.doc_id or "",
                "" if hit.score is None else f"{hit.score:.2f}",
                one_line(hit.content),
            )
            for hit in hits
        ],
    )
    more = f"; next: --offset {offset + args.limit}" if len(hits) >= args.limit else ""
    out.line(f"{len(hits)} {'chunk' if len(hits) == 1 else 'chunks'}{more}")
    return EXIT_OK


async def _call(args: argparse.Namespace, out: Printer) -> int:
    async with client_for(args) as yg:
        call = await yg.make_outbound_call(args.agent_id, args.number, extra_data=args.extra)
    if args.json:
        out.json(plain(call))
    else:
        out.line(
            f"calling {call.call_to or args.number} with agent {call.agent_id or args.agent_id}: "
            f"{call.status or 'placed'} (call_id {call.call_id or 'not given'})"
        )
    return EXIT_OK


COMMANDS: dict[str, Runner] = {"logs": _logs, "search": _search, "call": _call}
"""The commands of this module, by name."""

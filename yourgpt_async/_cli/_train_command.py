"""``train add-faq|add-text|upload|list``: a project's training, with an organisation's token.

:func:`add_parsers` returns the ``train`` group, so that more subcommands can join it.
"""

from __future__ import annotations

import argparse
import sys

from .._exceptions import ConfigurationError
from ..types import TrainingFile, TrainingText
from ._args import (
    Commands,
    Parents,
    add_command,
    add_group,
    add_order,
    add_paging,
    add_project,
    json_object,
    nonblank,
    page_size,
)
from ._clients import platform_client_for, project_uid
from ._listing import Runner, show_page
from ._output import EXIT_OK, Printer, one_line, plain, when

__all__ = ["COMMANDS", "add_parsers"]

_RECONCILE = (
    "when no answer comes back, look for it among the project's training: found, it counts "
    "as added; missing, it is sent again; in doubt only when that cannot tell"
)


def _common(parser: argparse.ArgumentParser, *, reconcile: bool = True) -> None:
    add_project(parser)
    parser.add_argument("--tags", metavar="TAGS", help="comma-separated tags (vip,shipping)")
    if reconcile:
        parser.add_argument("--reconcile", action="store_true", help=_RECONCILE)


def add_parsers(commands: Commands, parents: Parents) -> Commands:
    """Add ``train`` and its subcommands; returns the group, for more to join it."""
    group = add_group(
        commands,
        "train",
        "train a project's bot: FAQs, texts, files (token)",
        "What a project's bot knows and answers from, with an organisation's token "
        "(--token): FAQs, texts and files; --project UID names the project (default: "
        "$YOURGPT_PROJECT_UID).",
        (
            'yourgpt-async train add-faq "Do you ship to Norway?" "Yes, in 3-5 days."',
            "yourgpt-async train import faqs.csv        every FAQ of a file, resumable",
            "yourgpt-async train list faq",
        ),
    )
    faq = add_command(
        group,
        "add-faq",
        "teach the bot a question and its answer",
        "Teach the bot a question and the answer it should give.",
        (
            'yourgpt-async train add-faq "Do you ship to Norway?" "Yes, in 3-5 days."',
            'yourgpt-async train add-faq "Can I pay by card?" "Yes." --tags billing --json',
        ),
        parents.common,
        parents.as_json,
    )
    faq.add_argument("question", type=nonblank, metavar="QUESTION")
    faq.add_argument("answer", type=nonblank, metavar="ANSWER")
    _common(faq)
    text = add_command(
        group,
        "add-text",
        "teach the bot a text (- reads it from stdin)",
        "Teach the bot a text: anything it should know and answer from. TEXT '-' reads it "
        "from standard input.",
        (
            'yourgpt-async train add-text "We ship to every EU country." --title Shipping',
            "yourgpt-async train add-text - --title Returns < returns.txt",
        ),
        parents.common,
        parents.as_json,
    )
    text.add_argument("text", metavar="TEXT")
    text.add_argument("--title", type=nonblank, help="a title for it")
    _common(text)
    _add_upload(group, parents)
    _add_list(group, parents)
    return group


def _add_upload(group: Commands, parents: Parents) -> None:
    upload = add_command(
        group,
        "upload",
        "teach the bot a file the service fetches from a URL",
        "Teach the bot a file the service fetches from FILE_URL, a public http(s) URL whose "
        "path ends with the file's type (.pdf, .docx, .txt, .csv, ...). The file is "
        "processing at first; `train list files` shows when it is done.",
        (
            "yourgpt-async train upload https://example.com/handbook.pdf --tags policies",
            "yourgpt-async train upload https://example.com/prices.csv --extra-settings "
            "'{\"enable_citation\": true}'",
        ),
        parents.common,
        parents.as_json,
    )
    upload.add_argument("file_url", type=nonblank, metavar="FILE_URL")
    upload.add_argument(
        "--extra-settings", type=json_object, metavar="JSON", help="the file's settings, JSON"
    )
    _common(upload)


def _add_list(group: Commands, parents: Parents) -> None:
    listing = add_command(
        group,
        "list",
        "list the project's FAQs, texts or files",
        "List a page of the project's FAQs, texts or files, newest first.",
        (
            "yourgpt-async train list faq --search shipping",
            "yourgpt-async train list text --tags policies --all --json",
            "yourgpt-async train list files --status processing",
        ),
        parents.common,
        parents.as_json,
    )
    listing.add_argument("kind", choices=("faq", "text", "files"), metavar="{faq,text,files}")
    listing.add_argument("--search", help="FAQs and texts: only those containing this")
    listing.add_argument("--status", type=nonblank, help="files: only those in this state")
    _common(listing, reconcile=False)
    add_order(listing, "DESC, newest first")
    add_paging(listing, "items")


# -- running them --------------------------------------------------------------------------------


async def _add_faq(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        training = yp.project(project_uid(args)).training
        faq = await training.add_faq(args.question, args.answer, tags=args.tags)
    if args.json:
        out.json(plain(faq))
    else:
        out.line(f"added FAQ {faq.id}: {one_line(faq.short_text or args.question)}")
    return EXIT_OK


async def _add_text(args: argparse.Namespace, out: Printer) -> int:
    content = sys.stdin.read() if args.text == "-" else args.text
    async with platform_client_for(args) as yp:
        training = yp.project(project_uid(args)).training
        text = await training.add_text(content, title=args.title, tags=args.tags)
    if args.json:
        out.json(plain(text))
    else:
        title = f": {one_line(text.short_text)}" if text.short_text else ""
        out.line(f"added text {text.id}{title}")
    return EXIT_OK


async def _upload(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        training = yp.project(project_uid(args)).training
        stored = await training.upload_file(
            args.file_url, tags=args.tags, extra_settings=args.extra_settings
        )
    if args.json:
        out.json(plain(stored))
    else:
        out.line(
            f"added file {stored.id} {stored.name}: {stored.status or 'processing'} "
            "(`yourgpt-async train list files` shows when it is done)"
        )
    return EXIT_OK


def _text_row(text: TrainingText) -> tuple[str, ...]:
    return (
        str(text.id or ""),
        one_line(text.short_text, 40),
        one_line(text.detail, 60),
        ",".join(text.tags),
        when(text.created_at),
    )


def _file_row(file: TrainingFile) -> tuple[str, ...]:
    return (
        str(file.id or ""),
        file.name,
        file.status or "",
        ",".join(file.tags),
        when(file.created_at),
    )


async def _list(args: argparse.Namespace, out: Printer) -> int:
    _check_filters(args)
    paging = {"order": args.order, "page": args.page, "limit": page_size(args)}
    async with platform_client_for(args) as yp:
        training = yp.project(project_uid(args)).training
        if args.kind == "files":
            files = await training.list_files(status=args.status, tags=args.tags, **paging)
            columns = ("id", "name", "status", "tags", "added")
            return await show_page(args, out, files, columns=columns, row=_file_row, noun="files")
        texts = await training.list_texts(args.kind, search=args.search, tags=args.tags, **paging)
        first = "question" if args.kind == "faq" else "title"
        second = "answer" if args.kind == "faq" else "text"
        columns = ("id", first, second, "tags", "added")
        noun = "FAQs" if args.kind == "faq" else "texts"
        return await show_page(args, out, texts, columns=columns, row=_text_row, noun=noun)


def _check_filters(args: argparse.Namespace) -> None:
    """--search lists FAQs and texts, --status files: refuse the other way round."""
    if args.kind == "files" and args.search is not None:
        raise ConfigurationError(
            "--search filters FAQs and texts, not files: use --tags or --status"
        )
    if args.kind != "files" and args.status is not None:
        raise ConfigurationError(f"--status filters files, not {args.kind}: use --search or --tags")


COMMANDS: dict[str, Runner] = {
    "train add-faq": _add_faq,
    "train add-text": _add_text,
    "train upload": _upload,
    "train list": _list,
}
"""The commands of this module, by name."""

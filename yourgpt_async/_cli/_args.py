"""What every part of the command line's parser shares: the value types its options take, the
options every command has (connection, ``--json``, ``--project``, paging), and the way a
command is added with its summary, description and examples.

A command's examples are kept in :data:`EXAMPLES` under its whole name (``"train add-faq"``)
as it is added, so each ``--help`` ends with them and the tests can parse every one.
"""

from __future__ import annotations

import argparse
import json
import math
import textwrap
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeAlias

import attrs

from .. import _validate as check
from .._exceptions import ConfigurationError

__all__ = [
    "EXAMPLES",
    "EXIT_CODES",
    "Commands",
    "Parents",
    "add_command",
    "add_group",
    "add_order",
    "add_paging",
    "add_project",
    "day",
    "e164",
    "json_object",
    "non_negative_int",
    "nonblank",
    "order",
    "page_size",
    "positive_float",
    "positive_int",
    "set_examples",
]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EXAMPLES: dict[str, tuple[str, ...]] = {}
"""Example command lines of each command's ``--help``, by its whole name (``"train list"``);
after two spaces, a comment."""

EXIT_CODES = """\
exit codes: 0 success; 1 an API error, or for bulk an item failed, in doubt or on a bad line;
2 usage or configuration error, or bulk stopped by a refused key (401/403); 130 interrupted
(Ctrl-C or SIGTERM)"""
"""The exit codes, ending the top level's ``--help`` and each bulk command's."""


@attrs.frozen
class Parents:
    """The option sets commands take as argparse parents.

    Attributes:
        common: The connection options (``--api-key``, ``--token``, ...), also after the
            command's name.
        as_json: ``--json``.
    """

    common: argparse.ArgumentParser
    as_json: argparse.ArgumentParser


# -- value types -------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def order(text: str) -> str:
    """``ASC`` or ``DESC``, in any case."""
    if text.upper() not in ("ASC", "DESC"):
        raise argparse.ArgumentTypeError(f"expected ASC or DESC, got {text!r}")
    return text.upper()


def nonblank(text: str) -> str:
    """Text that is not empty or blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a value that is not blank, got {text!r}")
    return text


def day(text: str) -> date:
    """A day as ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a day as YYYY-MM-DD (e.g. 2024-08-01), got {text!r}"
        ) from None


def e164(text: str) -> str:
    """A phone number in E.164 form, checked as the library checks it."""
    try:
        return check.e164("NUMBER", text)
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(
            "expected " + str(error).removeprefix("NUMBER must be ")
        ) from None


def json_object(text: str) -> dict[str, Any]:
    """A JSON object, as text."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise argparse.ArgumentTypeError(
            f"expected a JSON object, got {text!r} ({error})"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f'expected a JSON object such as \'{{"name": "Ada"}}\', got {text!r}'
        )
    return value


# -- commands ----------------------------------------------------------------------------------


def _examples(lines: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def add_command(
    commands: Commands,
    name: str,
    summary: str,
    description: str,
    examples: Sequence[str],
    *parents: argparse.ArgumentParser,
    epilog: str = "",
) -> argparse.ArgumentParser:
    """Add a subcommand: its one-line summary (in the list), and its description and examples
    (its ``--help``), noted in :data:`EXAMPLES` under its whole name.

    Args:
        commands: Where to add it (the top level's, or a group's).
        name: Its name.
        summary: One line, for the list of commands.
        description: What it does, for its ``--help``.
        examples: Example command lines (after two spaces, a comment).
        parents: The option sets it takes.
        epilog: More text after the examples.
    """
    parser = commands.add_parser(
        name,
        parents=list(parents),
        help=summary,
        description=textwrap.fill(description, width=88),
        epilog=_examples(examples) + (f"\n\n{epilog}" if epilog else ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    EXAMPLES[parser.prog.split(maxsplit=1)[1]] = tuple(examples)  # the name, less the program
    return parser


def set_examples(
    parser: argparse.ArgumentParser, examples: Sequence[str], *, epilog: str = ""
) -> None:
    """End the ``--help`` of a command made elsewhere with ``examples`` (and ``epilog``), and
    note them in :data:`EXAMPLES` under its whole name."""
    parser.epilog = _examples(examples) + (f"\n\n{epilog}" if epilog else "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    EXAMPLES[parser.prog.split(maxsplit=1)[1]] = tuple(examples)


def add_group(
    commands: Commands, name: str, summary: str, description: str, examples: Sequence[str]
) -> Commands:
    """Add a command made of subcommands (``train add-faq``, ``train list``, ...) and return
    where its subcommands go; the one given is in ``args.action``."""
    group = add_command(commands, name, summary, description, examples)
    return group.add_subparsers(dest="action", required=True, metavar="ACTION")


def add_project(
    parser: argparse.ArgumentParser, help: str | None = None, *, refuse_blank: bool = True
) -> None:
    """``--project UID``: the project a Platform API command works on.

    Args:
        parser: The command.
        help: What it means for this command (default: a project_uid, falling back to
            ``$YOURGPT_PROJECT_UID``).
        refuse_blank: A blank UID is a usage error; without, ``--project ""`` falls back to
            ``$YOURGPT_PROJECT_UID`` (as it always has for the bulk commands of a group).
    """
    parser.add_argument(
        "--project",
        type=nonblank if refuse_blank else str,
        metavar="UID",
        help=help or "the project's project_uid (default: $YOURGPT_PROJECT_UID)",
    )


def add_paging(
    parser: argparse.ArgumentParser, noun: str, *, default: int = 10, maximum: int = 100
) -> None:
    """``--page``, ``--limit`` and ``--all`` for a command that lists one page of ``noun``
    (``default`` a page, or ``maximum`` a page with ``--all``)."""
    parser.add_argument("--page", type=positive_int, default=1, help="from 1 (default: 1)")
    parser.add_argument(
        "--limit",
        type=positive_int,
        help=f"{noun} per page, 1-{maximum} (default: {default}; with --all, {maximum})",
    )
    parser.add_argument(
        "--all", action="store_true", help="list every page from --page on, not just one"
    )
    parser.set_defaults(page_size=(default, maximum))


def page_size(args: argparse.Namespace) -> int:
    """The page size a listing command asks for: ``--limit``, else its default (the largest
    the service allows with ``--all``, so that every page costs one request)."""
    if args.limit is not None:
        return int(args.limit)
    default, maximum = args.page_size
    return int(maximum if args.all else default)


def add_order(parser: argparse.ArgumentParser, default: str) -> None:
    """``--order ASC|DESC``, saying the service's default."""
    parser.add_argument(
        "--order", type=order, help=f"ASC or DESC (default: the service's, {default})"
    )

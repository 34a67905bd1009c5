"""How the listing commands print a page of anything: a table and where the next page is, or
with ``--json`` the page (or with ``--all`` every item from it on) as one JSON object.

JSON has the same shape either way, so a script reads ``.items[]`` alike: ``{"page", "limit",
"total", "has_more", "items"}`` for one page, ``{"total", "items"}`` with ``--all``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import attrs

from ..types import Page
from ._output import EXIT_OK, Printer, plain

__all__ = ["Runner", "show_page"]

T = TypeVar("T", bound=attrs.AttrsInstance)

Runner: TypeAlias = Callable[[argparse.Namespace, Printer], Coroutine[Any, Any, int]]
"""A command that runs one coroutine: the parsed arguments and the printer in, the exit code
out."""


async def show_page(
    args: argparse.Namespace,
    out: Printer,
    page: Page[T],
    *,
    columns: Sequence[str],
    row: Callable[[T], Sequence[str]],
    noun: str,
    extras: Mapping[str, Any] | None = None,
) -> int:
    """Print ``page`` (with ``--all``, every item from it on, fetched here) as a table, or as
    JSON with ``--json``.

    Args:
        args: The command's arguments (``json``, and ``all`` if it has ``--all``).
        out: Where to print.
        page: The page the command fetched.
        columns: The table's column names.
        row: An item's cells, in the order of ``columns``.
        noun: What the items are, plural, for the line under the table.
        extras: More to put in the JSON object (the pending invitations beside members).
    """
    every = getattr(args, "all", False)  # `sessions` has no --all: always one page
    items = [item async for item in page] if every else list(page.items)
    if args.json:
        body: dict[str, Any] = {"total": page.total}
        if not every:
            body = {"page": page.page, "limit": page.limit, **body, "has_more": page.has_more}
        out.json({**body, **(extras or {}), "items": [plain(item) for item in items]})
        return EXIT_OK
    out.table(columns, [row(item) for item in items])
    if every:
        out.line(f"{len(items)} {noun}")
        return EXIT_OK
    total = "?" if page.total is None else page.total
    more = f"; next: --page {page.page + 1}" if page.has_more else ""
    out.line(f"page {page.page}, {len(page.items)} of {total} {noun}{more}")
    return EXIT_OK

"""Bulk items from a file: :class:`ItemFile` reads JSON lines or CSV lazily, each record made an
item of its kind by the kind's own ``prepare`` (the same check ``send_many`` or ``add_many``
makes), a bad line reported (or raised) with its number; :func:`read_items` reads messages.

Whatever a line holds, it is an item or a bad line with its number, never a crash: bytes that
are not UTF-8 make a bad line (the file is read with ``surrogateescape``, so they show as
U+DC80..U+DCFF, which no valid UTF-8 decodes to), and so does JSON nested too deeply to parse
or a CSV record longer than the csv module's field limit (128 KiB). CSV records are found with
the csv module's own quoting rules, so a quoted field over several lines is one record and a
bad record never throws the following ones out of step. What is wrong with the whole file (a
CSV header naming unknown columns, a first line that is neither a header nor an item, a key
used twice) is one error, raised before anything is sent; a kind whose files must name their
columns (training items, contact taggings) takes a JSON-lines file's first record as its
header.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Generic, Literal, TypeAlias, TypeVar

from .._exceptions import ConfigurationError
from .._validate import short
from ._keys import KeyTable
from ._kind import BadRecord, BulkKind, Rows
from ._messages import MESSAGES, BulkItem

__all__ = ["FileFormat", "ItemFile", "read_items"]

ItemT = TypeVar("ItemT")

FileFormat: TypeAlias = Literal["auto", "jsonl", "csv"]
"""How :func:`read_items` reads a file: JSON lines, CSV, or ``"auto"`` (by the file's suffix,
else by its first line)."""

_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of an invalid byte


class _BadLine(ValueError):
    """An input line that is not an item."""


def read_items(
    path: str | os.PathLike[str],
    *,
    format: FileFormat = "auto",
    on_bad: Callable[[int, str], object] | None = None,
) -> ItemFile[BulkItem]:
    """Read the messages of a JSON-lines or CSV file as :class:`BulkItem` s, lazily.

    The file the ``bulk`` command reads, for :meth:`~yourgpt_async.AsyncClient.send_many`::

        from yourgpt_async.bulk import read_items

        items = read_items("messages.csv", on_bad=lambda line, why: print(line, why))
        async with client.send_many(items, journal="messages.journal") as run:
            async for outcome in run:
                ...

    A JSON line is an object with ``session_uid``, ``message`` and optionally ``send_by`` and
    ``key``. A CSV file names those columns in a header line; without a header its columns are
    ``session_uid,message[,send_by][,key]`` in that order. Blank lines are skipped.

    Args:
        path: The file.
        format: ``"jsonl"``, ``"csv"``, or ``"auto"``: by the suffix (``.jsonl``, ``.ndjson``,
            ``.json``, ``.csv``), else by the first line.
        on_bad: Called with the line number and the reason for each line that is not an item
            (not JSON, a missing field, a bad ``send_by``, ...), which is then skipped and
            counted in ``ItemFile.bad_lines``. Without it, the first bad line raises
            :class:`~yourgpt_async.ConfigurationError` naming it when the reading reaches it.

    Returns:
        The file's items: iterate over it (more than once, if need be), and call
        :meth:`ItemFile.check` to count them and find a key used twice before sending.

    Raises:
        ConfigurationError: The file cannot be read, ``format`` is unknown, or a CSV file's
            first line is neither a header naming the columns above nor an item.
    """
    return ItemFile(path, format=format, on_bad=on_bad)


class ItemFile(Generic[ItemT]):
    """The items of a JSON-lines or CSV file, read lazily; made by :func:`read_items`.

    Attributes:
        path: The file.
        format: ``"jsonl"`` or ``"csv"``, as given or as found.
        bad_lines: How many lines the reading has skipped as not items so far.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: FileFormat = "auto",
        on_bad: Callable[[int, str], object] | None = None,
        kind: BulkKind[ItemT, Any] = MESSAGES,  # type: ignore[assignment]
    ) -> None:
        if format not in ("auto", "jsonl", "csv"):
            raise ConfigurationError(f"format must be 'auto', 'jsonl' or 'csv', got {format!r}")
        if on_bad is not None and not callable(on_bad):
            raise ConfigurationError(f"on_bad must be a callable or None, got {short(on_bad)}")
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigurationError(f"no such file: {str(path)!r}")
        self.format: Literal["jsonl", "csv"] = (
            _guess_format(self.path) if format == "auto" else format
        )
        self.on_bad = on_bad
        self.bad_lines = 0
        assert kind.rows is not None
        self._kind = kind
        self._rows: Rows = kind.rows
        self._columns: Sequence[str] = self._rows.positional
        self._header = False
        if self.format == "csv":
            self._columns, self._header = _read_csv_head(self.path, kind)
        elif self._rows.header_required:
            _check_jsonl_head(self.path, self._rows)

    def check(self) -> int:
        """Read the whole file once: return how many records it has (lines, or CSV records,
        that are not blank and not the header) and check that no two items share a key.

        Raises:
            ConfigurationError: Two items have the same ``key`` (both lines are named).
        """
        count, seen, duplicate = 0, KeyTable(), None
        for number, key in self._keys():
            count += 1
            if key is not None and seen.add(key) and duplicate is None:
                duplicate = number, key
        if duplicate is not None:
            number, key = duplicate
            first = next(line for line, other in self._keys() if other == key)
            raise ConfigurationError(
                f"{self.path}: lines {first} and {number} have the same key {short(key)}; each "
                "item's key must be unique in one input (resuming a run tells items apart by "
                "it). Give one of them another key"
            )
        return count

    def _keys(self) -> Iterator[tuple[int, str | None]]:
        """Each record's line number and its own key (``None`` if it has none, or no valid one)."""
        with _open_text(self.path) as handle:
            for number, record in self._records(handle):
                try:
                    if isinstance(record, _BadLine):
                        raise record
                    key = _checked(self._kind, record, number).key
                except _BadLine:
                    key = None
                if key is not None and key.startswith("#"):
                    key = None  # made from its position: unique, and not the item's own
                yield number, key

    def __iter__(self) -> Iterator[ItemT]:
        with _open_text(self.path) as handle:
            for number, record in self._records(handle):
                try:
                    if isinstance(record, _BadLine):
                        raise record
                    item = _checked(self._kind, record, number).item
                except _BadLine as error:
                    self.bad_lines += 1
                    if self.on_bad is None:
                        raise ConfigurationError(f"{self.path}:{number}: {error}") from None
                    self.on_bad(number, str(error))
                    continue
                yield item

    def _records(self, handle: IO[str]) -> Iterator[tuple[int, dict[str, object] | _BadLine]]:
        if self.format == "jsonl":
            return _jsonl(handle, self._rows.fields)
        return _csv(handle, self._columns, skip_header=self._header)


def _jsonl(
    handle: IO[str], fields: Sequence[str] | None
) -> Iterator[tuple[int, dict[str, object] | _BadLine]]:
    """Each line's record, or why it is none; with ``fields``, a record naming another field
    is a bad line too."""
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        if bad := _not_utf8(line):
            yield number, bad
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            yield number, _BadLine(f"not valid JSON ({getattr(error, 'msg', error)})")
            continue
        except RecursionError:
            yield number, _BadLine("not an item: JSON nested too deeply to read")
            continue
        if not isinstance(record, dict):
            yield number, _BadLine(f"expected a JSON object, got {_kind(record)}")
            continue
        unknown = [] if fields is None else sorted(set(record) - set(fields))
        if unknown:
            yield number, _BadLine(f"unknown field(s): {', '.join(unknown)}")
            continue
        yield number, record


def _csv(
    handle: IO[str], columns: Sequence[str], *, skip_header: bool
) -> Iterator[tuple[int, dict[str, object] | _BadLine]]:
    for number, row in _csv_records(handle):
        if isinstance(row, _BadLine):
            yield number, row
            continue
        if not any(cell.strip() for cell in row):
            continue
        if skip_header:
            skip_header = False
            continue
        record: dict[str, object] | _BadLine
        try:
            record = _positional(row, columns)
        except _BadLine as error:
            record = error
        yield number, record


def _read_csv_head(path: Path, kind: BulkKind[Any, Any]) -> tuple[Sequence[str], bool]:
    """The columns of a CSV file and whether its first record is a header naming them.

    A first record that names any column is a header, and must name the kind's columns (its
    ``header_problem`` says what is wrong otherwise). Otherwise the columns are positional, if
    the kind has such an order, and the first record must be an item: a header with unknown
    names, or a file whose columns are in another order, is then one error rather than a bad
    line for every record. A kind without a positional order needs a header.
    """
    rows = kind.rows
    assert rows is not None
    with _open_text(path) as handle:
        first = next(
            (
                (number, row)
                for number, row in _csv_records(handle)
                if isinstance(row, _BadLine) or any(cell.strip() for cell in row)
            ),
            None,
        )
    if first is None:
        return rows.positional, False
    number, row = first
    headless = _headless(rows)
    if isinstance(row, _BadLine):
        raise ConfigurationError(f"{path}:{number}: {row}. {headless}")
    names = [cell.strip().lower() for cell in row]
    if any(name in rows.fields for name in names):
        problem = rows.header_problem(names)
        if problem is not None:
            raise ConfigurationError(f"{path}:{number}: the CSV header {','.join(row)!r} {problem}")
        return names, True
    if rows.header_required:
        raise ConfigurationError(
            f"{path}:{number}: the first line names none of the columns, so the file has no "
            f"header. {headless}"
        )
    order = ",".join(rows.positional)
    try:
        _checked(kind, _positional(row, rows.positional), number)
    except _BadLine as error:
        raise ConfigurationError(
            f"{path}:{number}: the first line is not a header, and read as {order} it is not "
            f"an item: {error}. {headless}; add a header line if the columns are in another "
            "order"
        ) from None
    return rows.positional, False


def _headless(rows: Rows) -> str:
    """What a CSV file's first line is, for the kind: a header, or (maybe) the first record."""
    if rows.header_required:
        return f"A CSV file's first line names its columns: {rows.expected}"
    return (
        f"A CSV file's first line names its columns ({rows.expected}, in any order); without "
        f"such a header the columns are {','.join(rows.positional)}, in that order"
    )


def _check_jsonl_head(path: Path, rows: Rows) -> None:
    """Refuse, as one error, a JSON-lines file whose first record is no record of the kind:
    its fields are its columns, as a CSV file's header names them."""
    with _open_text(path) as handle:
        first = next(_jsonl(handle, None), None)
    if first is None:
        return
    number, record = first
    if isinstance(record, _BadLine):
        raise ConfigurationError(
            f"{path}:{number}: the first line is not a record ({record}); each line is a JSON "
            f"object naming {rows.expected}"
        )
    problem = rows.header_problem([str(name).lower() for name in record])
    if problem is not None:
        fields = ",".join(map(str, record))
        raise ConfigurationError(f"{path}:{number}: the first record's fields {fields!r} {problem}")


def _positional(row: list[str], columns: Sequence[str]) -> dict[str, object]:
    if len(row) > len(columns):
        raise _BadLine(f"{len(row)} columns, expected at most {len(columns)}")
    return {name: cell for name, cell in zip(columns, row, strict=False) if cell != ""}


def _guess_format(path: Path) -> Literal["jsonl", "csv"]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    with _open_text(path) as handle:
        for line in handle:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "csv"
    return "jsonl"


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", type(None): "null"}.get(type(value), "a number")


def _checked(kind: BulkKind[ItemT, Any], record: dict[str, object], number: int) -> Any:
    """A record made an input of ``kind`` and prepared with the kind's own checks; a bad line
    when it is not one."""
    assert kind.rows is not None
    try:
        raw = kind.rows.record(record)
    except BadRecord as error:
        raise _BadLine(str(error)) from None
    prepared = kind.prepare(raw, number)
    if prepared.problem is not None:
        raise _BadLine(prepared.problem)
    return prepared


def _open_text(path: Path) -> IO[str]:
    """The file as text; a byte that is not UTF-8 becomes a marker, not an exception."""
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def _not_utf8(text: str) -> _BadLine | None:
    """A bad line if ``text`` (read with ``surrogateescape``) had bytes that are not UTF-8."""
    if text.isascii():
        return None
    found = _NOT_UTF8.search(text)
    if found is None:
        return None
    return _BadLine(f"not valid UTF-8 (byte 0x{ord(found.group()) - 0xDC00:02x})")


# The states of the csv module's reader (default dialect) that matter to where a record ends.
_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED = range(4)


def _still_quoted(line: str, quoted: bool) -> bool:
    """Whether a CSV record is inside a quoted field at the end of ``line``, given whether it
    was at its start: then the record goes on to the next line."""
    if '"' not in line:
        return quoted
    state = _QUOTED if quoted else _START
    for char in line:
        if state == _QUOTED:
            if char == '"':
                state = _QUOTE_IN_QUOTED
        elif state == _QUOTE_IN_QUOTED:
            state = _QUOTED if char == '"' else _START if char == "," else _UNQUOTED
        elif char == ",":
            state = _START
        else:
            state = _QUOTED if state == _START and char == '"' else _UNQUOTED
    return state == _QUOTED


def _csv_records(lines: Iterable[str]) -> Iterator[tuple[int, list[str] | _BadLine]]:
    """Each CSV record with the number of its first line: its cells, or why it is bad.

    A record longer than the csv module's field limit is bad; only its end is looked for, so
    memory stays bounded whatever the file holds.
    """
    limit = csv.field_size_limit()
    record: list[str] = []
    start, size, quoted = 0, 0, False
    for number, line in enumerate(lines, 1):
        if not quoted:
            record, start, size = [], number, 0
        quoted = _still_quoted(line, quoted)
        size += len(line)
        if size <= limit:
            record.append(line)
        if not quoted:
            yield start, _parse_record(record, size, limit)
    if quoted:  # a quote left open at the end of the file
        yield start, _parse_record(record, size, limit)


def _parse_record(lines: list[str], size: int, limit: int) -> list[str] | _BadLine:
    if size > limit:
        return _BadLine(f"a CSV record longer than {limit} characters")
    for line in lines:
        if bad := _not_utf8(line):
            return bad
    try:
        rows = list(csv.reader(lines))
    except csv.Error as error:
        return _BadLine(f"not valid CSV ({error})")
    if len(rows) > 1:
        return _BadLine("not valid CSV (a record that reads as several)")
    return rows[0] if rows else []

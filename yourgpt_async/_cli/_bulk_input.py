"""The ``bulk`` command's input: JSON lines or CSV read lazily, each line made an item by
bulk's own :func:`prepare`, a bad line reported and skipped.

Whatever a line holds, it is an item or a bad line with its number, never the end of the run:
bytes that are not UTF-8 make a bad line (the file is read with ``surrogateescape``, so they
show as U+DC80..U+DCFF, which no valid UTF-8 decodes to), and so does a CSV record longer than
the csv module's field limit (128 KiB). CSV records are found line by line with the csv
module's own quoting rules, so a bad record never throws the following ones out of step.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from .._bulk import BulkItem
from .._bulk._items import prepare
from .._exceptions import ConfigurationError
from .._models import SendBy

__all__ = ["InputFile"]

_FIELDS = ("session_uid", "message", "send_by", "key")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of an invalid byte


class _BadLine(ValueError):
    """An input line that is not an item."""


class InputFile:
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
            with _open_text(self.path) as handle:
                first = next((row for _, row in _csv_records(handle) if row), [])
            if isinstance(first, list) and _is_header(first):
                total -= 1
        return total

    def __iter__(self) -> Iterator[BulkItem]:
        with _open_text(self.path) as handle:
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
            if bad := _not_utf8(line):
                yield number, bad
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                yield number, _BadLine(f"not valid JSON ({getattr(error, 'msg', error)})")
                continue
            if not isinstance(record, dict):
                yield number, _BadLine(f"expected a JSON object, got {_kind(record)}")
                continue
            unknown = sorted(set(record) - set(_FIELDS))
            if unknown:
                yield number, _BadLine(f"unknown field(s): {', '.join(unknown)}")
                continue
            yield number, record

    @staticmethod
    def _csv(handle: IO[str]) -> Iterator[tuple[int, dict[str, object] | _BadLine]]:
        columns: Sequence[str] = _FIELDS
        first = True
        for number, row in _csv_records(handle):
            if isinstance(row, _BadLine):
                yield number, row
                continue
            if not any(cell.strip() for cell in row):
                continue
            if first:
                first = False
                if _is_header(row):
                    columns = [cell.strip().lower() for cell in row]
                    unknown = sorted(set(columns) - set(_FIELDS))
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
    with _open_text(path) as handle:
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

"""The ``bulk`` command's input: JSON lines or CSV read lazily, each line made an item by
bulk's own :func:`prepare`, a bad line reported and skipped."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from .._bulk import BulkItem
from .._bulk._items import prepare
from .._exceptions import ConfigurationError
from .._models import SendBy

__all__ = ["InputFile"]

_FIELDS = ("session_uid", "message", "send_by", "key")


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
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                first = next(csv.reader(handle), [])
            if _is_header(first):
                total -= 1
        return total

    def __iter__(self) -> Iterator[BulkItem]:
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
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
        reader = csv.reader(handle)
        columns: Sequence[str] = _FIELDS
        first = True
        for row in reader:
            number = reader.line_num
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
    with path.open(encoding="utf-8-sig") as handle:
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

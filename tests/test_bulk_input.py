"""yourgpt_async.bulk.read_items: JSON lines and CSV read into items, bad lines named, and what
is wrong with a whole file said once, before anything is sent. Pure: files in, items out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import yourgpt_async
from yourgpt_async import BulkItem, ConfigurationError, SendBy
from yourgpt_async.bulk import ItemFile, read_items

UID = "17226012685401506"


def bad_lines(path: Path, **options: object) -> tuple[list[BulkItem], list[tuple[int, str]]]:
    """The items of ``path`` and its bad lines, as (line number, reason)."""
    bad: list[tuple[int, str]] = []
    items = list(read_items(path, on_bad=lambda number, why: bad.append((number, why)), **options))
    return items, bad


def test_the_reader_is_public_in_yourgpt_async_bulk() -> None:
    """read_items and its ItemFile are public in yourgpt_async.bulk, which also re-exports the
    bulk names of the top level; the old private package is gone."""
    import importlib

    from yourgpt_async import bulk

    assert {"read_items", "ItemFile", "FileFormat"} <= set(bulk.__all__)
    for name in ("BulkItem", "BulkRun", "BulkSummary", "Sent", "Failed", "InDoubt"):
        assert getattr(bulk, name) is getattr(yourgpt_async, name)
    assert read_items.__doc__
    assert "read_items" in (Path(__file__).parents[1] / "docs/reference/api.md").read_text()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("yourgpt_async._bulk")


def test_jsonl_and_csv_give_the_same_items(tmp_path: Path) -> None:
    """A JSONL file and a CSV with a header (in any column order) read as the same items."""
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(
        json.dumps({"session_uid": UID, "message": "hi", "key": "k1"})
        + "\n\n"
        + json.dumps({"session_uid": UID, "message": "yo", "send_by": "operator"})
        + "\n"
    )
    csv = tmp_path / "in.csv"
    csv.write_text(f"key,message,session_uid,send_by\nk1,hi,{UID},\n,yo,{UID},operator\n")
    expected = [BulkItem(UID, "hi", SendBy.USER, "k1"), BulkItem(UID, "yo", SendBy.OPERATOR)]
    assert list(read_items(jsonl)) == list(read_items(csv)) == expected
    assert read_items(jsonl).check() == read_items(csv).check() == 2


def test_without_on_bad_the_first_bad_line_raises(tmp_path: Path) -> None:
    """By default a bad line is an error naming the file and line, not a silent skip."""
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"session_uid": UID, "message": "ok"}) + "\n{oops\n")
    items = iter(read_items(path))
    assert next(items).message == "ok"
    with pytest.raises(ConfigurationError, match=r"in\.jsonl:2: not valid JSON"):
        next(items)


def test_a_deeply_nested_jsonl_line_is_one_bad_line(tmp_path: Path) -> None:
    """A line nested too deeply for the JSON decoder is a bad line saying so, never a
    RecursionError; the lines around it are read."""
    path = tmp_path / "in.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    lines = [{"session_uid": UID, "message": "before"}, deep, {"session_uid": UID, "message": "a"}]
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    )
    items, bad = bad_lines(path)
    assert [item.message for item in items] == ["before", "a"]
    assert bad == [(2, "not an item: JSON nested too deeply to read")]


@pytest.mark.parametrize("send_by", [0, False, [], {}, "", 0.0])
def test_a_falsy_send_by_of_the_wrong_type_is_a_bad_line(tmp_path: Path, send_by: object) -> None:
    """send_by 0, false, [], {} or "" is refused, not sent as the user; null means absent."""
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"session_uid": UID, "message": "x", "send_by": send_by})
        + "\n"
        + json.dumps({"session_uid": UID, "message": "y", "send_by": None})
        + "\n"
    )
    items, bad = bad_lines(path)
    assert items == [BulkItem(UID, "y", SendBy.USER)]
    [(number, why)] = bad
    assert number == 1
    assert why.startswith("send_by must be one of")


def test_csv_records_over_several_lines_are_counted_as_records(tmp_path: Path) -> None:
    """A quoted field over several lines is one record: check() counts 3 records in 9 lines."""
    path = tmp_path / "in.csv"
    path.write_text(
        "session_uid,message\n"
        f'{UID},"one\nline two\nline three"\n'
        f'{UID},"two\n\nafter a blank line"\n'
        f"{UID},three\n"
    )
    assert len(path.read_text().splitlines()) == 8
    items = list(read_items(path))
    assert [item.message.split("\n")[0] for item in items] == ["one", "two", "three"]
    assert read_items(path).check() == 3


def test_a_csv_without_a_header_whose_third_column_is_a_key_is_one_error(tmp_path: Path) -> None:
    """uid,message,key rows without a header: one error saying how the columns were read and
    what to do, raised when the file is opened, not a bad line for every row."""
    path = tmp_path / "in.csv"
    path.write_text("".join(f"{UID},hello {i},order-{i}\n" for i in range(50)))
    with pytest.raises(ConfigurationError) as raised:
        read_items(path)
    message = str(raised.value)
    assert "in.csv:1: the first line is not a header" in message
    assert "send_by must be one of" in message
    assert "add a header line" in message


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("session_uid,message,colour", "unknown column(s) 'colour'"),
        ("uid,message,key", "unknown column(s) 'uid'; no session_uid column"),
        ("session_uid,text", "unknown column(s) 'text'; no message column"),
        ("session_uid,message,message", "message named twice"),
    ],
)
def test_a_csv_header_with_unknown_or_missing_columns_is_one_error(
    tmp_path: Path, header: str, expected: str
) -> None:
    """A header naming unknown columns, or not naming session_uid and message, is one error
    naming them, before any row is read."""
    path = tmp_path / "in.csv"
    path.write_text(f"{header}\n{UID},hi,x\n{UID},ho,y\n")
    with pytest.raises(ConfigurationError, match="the CSV header") as raised:
        read_items(path)
    assert expected in str(raised.value)


def test_a_headerless_csv_in_the_documented_order_is_read(tmp_path: Path) -> None:
    """Without a header, rows of session_uid,message[,send_by][,key] are items."""
    path = tmp_path / "in.csv"
    path.write_text(f"{UID},as bot,assistant,k1\n{UID},as user\n")
    assert list(read_items(path)) == [
        BulkItem(UID, "as bot", SendBy.ASSISTANT, "k1"),
        BulkItem(UID, "as user", SendBy.USER),
    ]


def test_check_names_both_lines_of_a_key_used_twice(tmp_path: Path) -> None:
    """check() reads the whole file and refuses a key used twice, naming both lines."""
    path = tmp_path / "in.jsonl"
    rows = [("a", "k1"), ("b", "k2"), ("c", None), ("d", "k1")]
    path.write_text(
        "".join(
            json.dumps({"session_uid": UID, "message": text, **({"key": key} if key else {})})
            + "\n"
            for text, key in rows
        )
    )
    with pytest.raises(ConfigurationError, match=r"lines 1 and 4 have the same key 'k1'"):
        read_items(path).check()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "xml"}, "format must be 'auto', 'jsonl' or 'csv'"),
        ({"on_bad": "print"}, "on_bad must be a callable or None"),
    ],
)
def test_bad_arguments_are_refused(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    """A bad format or on_bad, or a missing file, is a ConfigurationError at once."""
    path = tmp_path / "in.jsonl"
    path.write_text("")
    with pytest.raises(ConfigurationError, match=message):
        ItemFile(path, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="no such file"):
        read_items(tmp_path / "missing.csv")

"""The bulk journal: its format, durability before sending, group commit, resume and refusal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from _fakes import collect
from aiohttp import web

from yourgpt_async import (
    AsyncClient,
    BulkItem,
    ConfigurationError,
    DeliveryUnknownError,
    Failed,
    InDoubt,
    Limiter,
    LimiterFactory,
    Priority,
    RateLimit,
    Sent,
)
from yourgpt_async.testing import Emulator, EmulatorThread, Fault


def records(journal: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]


def statuses(journal: Path) -> dict[str, list[str]]:
    """Each key's statuses, in the order they were written."""
    seen: dict[str, list[str]] = {}
    for record in records(journal)[1:]:
        seen.setdefault(str(record["k"]), []).append(str(record["s"]))
    return seen


@pytest.fixture
async def uid(client: AsyncClient) -> str:
    """A session to send into."""
    return (await client.create_session()).session_uid


def messages(uid: str, count: int, prefix: str = "m") -> list[BulkItem]:
    return [BulkItem(uid, f"{prefix}{i}") for i in range(count)]


# -- format and durability -------------------------------------------------------------------


async def test_journal_has_a_header_then_a_start_and_an_end_per_item(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """The header names the format and the input; each item has a start line then its end."""
    journal = tmp_path / "run.jsonl"
    emulator.fault_plan.add("sendMessage", Fault.drop_after(), Fault.status(400))
    outcomes = await collect(client.send_many(messages(uid, 5), journal=journal, concurrency=1))
    header = records(journal)[0]
    assert header["journal"] == "yourgpt-async"
    assert header["version"] == 1
    assert header["input"] == {"items": 5, "sha256": header["input"]["sha256"]}  # type: ignore[index]
    by_key = {o.key: o for o in outcomes}
    assert statuses(journal) == {
        key: ["start", {"Sent": "sent", "Failed": "failed", "InDoubt": "in_doubt"}[kind]]
        for key, kind in ((k, type(o).__name__) for k, o in by_key.items())
    }
    sent = [r for r in records(journal) if r.get("s") == "sent"]
    assert {r["id"] for r in sent} == {o.reply.id for o in outcomes if isinstance(o, Sent)}
    failed = next(r for r in records(journal) if r.get("s") == "failed")
    assert "HTTP 400" in str(failed["e"])


async def test_a_start_line_is_durable_before_its_request_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the service sees a message, its start line is already written and fsync'd."""
    journal = tmp_path / "run.jsonl"
    synced = {"size": 0}
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced["size"] = max(synced["size"], os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fsync", fsync)
    checked: list[bool] = []

    @web.middleware
    async def check(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.endswith("/sendMessage"):
            body = await request.json()
            durable = journal.read_bytes()[: synced["size"]].decode()
            checked.append(f'{{"k":"{body["message"]}","s":"start",' in durable)
        return await handler(request)

    emulator = Emulator()
    emulator.app.middlewares.append(check)
    async with (
        emulator,
        AsyncClient(
            emulator.api_key, widget_uid=emulator.widget_uid, base_url=emulator.base_url
        ) as client,
    ):
        uid = (await client.create_session()).session_uid
        items = [BulkItem(uid, f"key{i}", key=f"key{i}") for i in range(20)]
        outcomes = await collect(client.send_many(items, journal=journal, concurrency=6))
    assert len(outcomes) == 20
    assert checked == [True] * 20


async def test_starts_and_ends_are_committed_in_groups(
    client: AsyncClient, uid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items starting together share one fsync; in all, fewer fsyncs than journal lines."""
    journal = tmp_path / "run.jsonl"
    starts_at_fsync: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        if os.path.exists(journal):
            starts_at_fsync.append(journal.read_text().count('"s":"start"'))

    monkeypatch.setattr(os, "fsync", fsync)
    await collect(client.send_many(messages(uid, 20), journal=journal, concurrency=20))
    lines = len(records(journal))
    assert lines == 41
    first_with_starts = next(count for count in starts_at_fsync if count)
    assert first_with_starts == 20
    assert len(starts_at_fsync) < lines


# -- resume ----------------------------------------------------------------------------------


def forget_ends(journal: Path, keys: set[str]) -> None:
    """Drop the end lines of `keys`, as if the run had been killed before writing them."""
    kept = [
        line
        for line in journal.read_text().splitlines(keepends=True)
        if not (json.loads(line).get("k") in keys and json.loads(line).get("s") != "start")
    ]
    journal.write_text("".join(kept))


async def test_resume_skips_confirmed_and_reports_unfinished_as_in_doubt(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """A rerun skips what was sent, reports what was started but not ended, sends the rest."""
    journal = tmp_path / "run.jsonl"
    items = messages(uid, 12)
    first = await collect(client.send_many(items[:8], journal=journal))
    unfinished = {o.key for o in first if o.index in (2, 5)}
    forget_ends(journal, unfinished)

    run = client.send_many(items, journal=journal)
    second = await collect(run)
    in_doubt = sorted(o.index for o in second if isinstance(o, InDoubt))
    sent = sorted(o.index for o in second if isinstance(o, Sent))
    assert in_doubt == [2, 5]
    assert sent == [8, 9, 10, 11]
    assert run.summary().skipped == 6
    assert all(emulator.delivered(item.message) == 1 for item in items)
    doubtful = next(o for o in second if isinstance(o, InDoubt))
    assert isinstance(doubtful.error, DeliveryUnknownError)
    assert "earlier run" in str(doubtful.error)
    assert statuses(journal)[doubtful.key][-1] == "in_doubt"

    third = await collect(client.send_many(items, journal=journal))  # still in doubt
    assert sorted(o.index for o in third) == [2, 5]
    assert all(isinstance(o, InDoubt) for o in third)


async def test_resend_in_doubt_sends_them_again(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """resend_in_doubt=True resends the in-doubt items, accepting a possible duplicate."""
    journal = tmp_path / "run.jsonl"
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    items = messages(uid, 3)
    first = await collect(client.send_many(items, journal=journal, concurrency=1))
    assert [type(o) for o in first] == [InDoubt, Sent, Sent]
    second = await collect(client.send_many(items, journal=journal, resend_in_doubt=True))
    assert [(type(o), o.index) for o in second] == [(Sent, 0)]
    assert emulator.delivered("m0") == 2
    third = await collect(client.send_many(items, journal=journal))
    assert third == []


async def test_failed_items_are_sent_again_on_resume(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """A Failed item was not delivered, so a rerun sends it."""
    journal = tmp_path / "run.jsonl"
    emulator.fault_plan.add("sendMessage", Fault.status(400))
    items = messages(uid, 2)
    first = await collect(client.send_many(items, journal=journal, concurrency=1))
    assert [type(o) for o in first] == [Failed, Sent]
    second = await collect(client.send_many(items, journal=journal))
    assert [(type(o), o.index) for o in second] == [(Sent, 0)]
    assert emulator.delivered("m0") == emulator.delivered("m1") == 1


async def test_caller_keys_identify_items(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """With its own keys, an item is recognised by its key, wherever it is in the input."""
    journal = tmp_path / "run.jsonl"
    items = [BulkItem(uid, f"k{i}", key=f"order-{i}") for i in range(3)]
    await collect(client.send_many(items, journal=journal))
    grown = [*items, BulkItem(uid, "k3", key="order-3")]
    second = await collect(client.send_many(grown, journal=journal))
    assert [o.key for o in second] == ["order-3"]
    assert len(emulator.ledger) == 4


async def test_a_journal_of_another_input_is_refused(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """Another input's journal is refused with a clear error before anything is sent."""
    journal = tmp_path / "run.jsonl"
    await collect(client.send_many(messages(uid, 3, "a"), journal=journal))
    before = journal.read_bytes()
    emulator.reset()
    with pytest.raises(ConfigurationError, match="was written for a different input"):
        await collect(client.send_many(messages(uid, 3, "b"), journal=journal))
    assert emulator.request_count("sendMessage") == 0
    assert journal.read_bytes() == before


async def test_a_changed_item_past_the_fingerprint_is_refused(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """An item changed after the first 16 is caught at its position, not resent as new."""
    journal = tmp_path / "run.jsonl"
    items = messages(uid, 30)
    await collect(client.send_many(items, journal=journal))
    items[20] = BulkItem(uid, "edited")
    with pytest.raises(ConfigurationError, match="item 20 is not the one the journal recorded"):
        await collect(client.send_many(items, journal=journal))
    assert emulator.delivered("edited") == 0
    assert len(emulator.ledger) == 30


async def test_a_longer_input_resumes_a_short_one(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """A journal of a short input accepts the same items followed by more."""
    journal = tmp_path / "run.jsonl"
    await collect(client.send_many(messages(uid, 2), journal=journal))
    second = await collect(client.send_many(messages(uid, 4), journal=journal))
    assert sorted(o.index for o in second) == [2, 3]
    with pytest.raises(ConfigurationError, match="different input"):
        await collect(client.send_many(messages(uid, 1), journal=journal))


async def test_a_torn_last_line_is_dropped(
    client: AsyncClient, emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """A line cut by a crash mid-write is ignored and removed; the run resumes."""
    journal = tmp_path / "run.jsonl"
    items = messages(uid, 3)
    await collect(client.send_many(items[:2], journal=journal))
    with journal.open("a") as handle:
        handle.write('{"k":"#2:00')
    second = await collect(client.send_many(items, journal=journal))
    assert [(type(o), o.index) for o in second] == [(Sent, 2)]
    assert journal.read_text().endswith("}\n")
    assert all(emulator.delivered(item.message) == 1 for item in items)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hello\n", "is not a yourgpt-async journal"),
        ('{"journal":"yourgpt-async","version":9,"input":{}}\n', "has version 9"),
        ("", None),  # empty: started afresh
    ],
)
async def test_a_file_that_is_not_a_journal_is_refused(
    client: AsyncClient, uid: str, tmp_path: Path, content: str, message: str | None
) -> None:
    """A file that is not a journal (or of another version) is refused; an empty one reused."""
    journal = tmp_path / "run.jsonl"
    journal.write_text(content)
    run = client.send_many(messages(uid, 1), journal=journal)
    if message is None:
        assert len(await collect(run)) == 1
        return
    with pytest.raises(ConfigurationError, match=message):
        await collect(run)
    assert journal.read_text() == content


async def test_a_damaged_line_is_refused(client: AsyncClient, uid: str, tmp_path: Path) -> None:
    """A damaged line inside the journal is an error naming the line."""
    journal = tmp_path / "run.jsonl"
    await collect(client.send_many(messages(uid, 2), journal=journal))
    lines = journal.read_text().splitlines(keepends=True)
    lines.insert(2, '{"k": 5}\n')
    journal.write_text("".join(lines))
    with pytest.raises(ConfigurationError, match="line 3: not a journal record"):
        await collect(client.send_many(messages(uid, 2), journal=journal))


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "line",
    [
        DEEP,  # RecursionError in the JSON decoder
        f'{{"k": "a", "s": "start", "t": {DEEP}}}',
        '{"k": "#' + "9" * 5000 + ':0123456789abcdef", "s": "start"}',  # too many digits
        '{"k": "' + "x" * (2 << 20) + '", "s": "start"}',  # a line of 2 MiB
        '{"k": "a", "s": "start", "t": 1' + "0" * 5000 + "}",  # an int json cannot read
        '{"k": ["a"], "s": "start"}',
        '{"k": "a", "s": {"s": "sent"}}',
        "\x00\xff",
    ],
    ids=[
        "nested",
        "nested-field",
        "long-position",
        "long-line",
        "huge-int",
        "list-key",
        "dict-status",
        "binary",
    ],
)
async def test_a_damaged_line_of_any_shape_says_the_file_is_damaged(
    client: AsyncClient, uid: str, tmp_path: Path, line: str
) -> None:
    """Whatever a damaged line holds, resuming fails with "the file is damaged" naming the
    line, never a RecursionError or MemoryError, and sends nothing."""
    journal = tmp_path / "run.jsonl"
    await collect(client.send_many(messages(uid, 2), journal=journal))
    lines = journal.read_text().splitlines(keepends=True)
    lines.insert(2, line + "\n")
    journal.write_text("".join(lines), encoding="utf-8", errors="surrogateescape")
    sent = len(await client.get_session_messages(uid, limit=100))
    with pytest.raises(ConfigurationError, match=r"line 3: not a journal record.*damaged"):
        await collect(client.send_many(messages(uid, 3), journal=journal))
    assert len(await client.get_session_messages(uid, limit=100)) == sent


async def test_a_far_position_is_read_without_allocating_for_it(
    client: AsyncClient, uid: str, tmp_path: Path
) -> None:
    """A generated key at a huge position (a valid line) is replayed in bounded memory, and
    the item at that position is recognised; the positions before it stay new."""
    from yourgpt_async.bulk._journal import _read_history

    journal = tmp_path / "run.jsonl"
    await collect(client.send_many(messages(uid, 1), journal=journal))
    with journal.open("a") as handle:
        handle.write('{"k": "#999999999999999999:0123456789abcdef", "s": "sent"}\n')
    with journal.open("rb") as handle:
        history = _read_history(journal, handle)
    assert len(history.positions) == 1
    assert history.recorded_content(999999999999999999) == 0x0123456789ABCDEF
    assert history.recorded_content(5) == 0


async def test_a_closed_client_leaves_no_item_in_doubt(
    make_client: Callable[..., AsyncClient], uid: str, tmp_path: Path
) -> None:
    """A run that ends because its client is closed (a raw error: no request left) records
    each started item as not sent, so the resumed run sends them all, none in doubt."""
    journal = tmp_path / "run.jsonl"
    items = messages(uid, 3)
    closed = make_client()
    await closed.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await collect(closed.send_many(items, journal=journal, concurrency=1))
    assert statuses(journal) == {records(journal)[1]["k"]: ["start", "failed"]}
    resumed = await collect(make_client().send_many(items, journal=journal))
    assert sorted((type(o).__name__, o.index) for o in resumed) == [
        ("Sent", 0),
        ("Sent", 1),
        ("Sent", 2),
    ]


class _BrokenLimiter(LimiterFactory, Limiter):
    """A limiter that fails with a raw error at its ``fail_at``-th turn."""

    def __init__(self, fail_at: int) -> None:
        self.turns = 0
        self.fail_at = fail_at

    def make_limiter(self) -> Limiter:
        return self

    async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> float:
        self.turns += 1
        if self.turns >= self.fail_at:
            raise RuntimeError("the limiter's own store broke")
        return 0.0

    def on_success(self, ticket: float) -> None:
        pass

    def on_throttled(self, ticket: float, retry_after: float | None) -> None:
        pass


async def test_a_raw_limiter_error_leaves_no_item_in_doubt(
    make_client: Callable[..., AsyncClient], emulator: Emulator, uid: str, tmp_path: Path
) -> None:
    """A limiter failing with a raw error ends the run; the items it stopped before their
    request left are sent by the resumed run, not reported in doubt."""
    journal = tmp_path / "run.jsonl"
    items = messages(uid, 4)
    broken = make_client(rate_limit=_BrokenLimiter(fail_at=3))
    with pytest.raises(RuntimeError, match="store broke"):
        await collect(broken.send_many(items, journal=journal, concurrency=1))
    await broken.aclose()
    first = {item.message for item in items if emulator.delivered(item.message)}
    resumed = await collect(make_client().send_many(items, journal=journal))
    assert not [o for o in resumed if isinstance(o, InDoubt)]
    assert all(isinstance(o, Sent) for o in resumed)
    assert len(resumed) == 4 - len(first)
    assert all(emulator.delivered(item.message) == 1 for item in items)


async def test_an_unusable_journal_path_is_a_clear_error(
    client: AsyncClient, uid: str, tmp_path: Path
) -> None:
    """A journal in a missing directory is refused, naming the path."""
    journal = tmp_path / "missing" / "run.jsonl"
    with pytest.raises(ConfigurationError, match=r"cannot use .*missing/run\.jsonl"):
        await collect(client.send_many(messages(uid, 1), journal=journal))


async def test_an_empty_input_makes_a_valid_journal(client: AsyncClient, tmp_path: Path) -> None:
    """An empty input writes just the header, and resumes cleanly."""
    journal = tmp_path / "run.jsonl"
    assert await collect(client.send_many([], journal=journal)) == []
    assert await collect(client.send_many([], journal=journal)) == []
    assert records(journal)[0]["input"] == {
        "items": 0,
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }


# -- a real crash ----------------------------------------------------------------------------

CRASHING_RUN = """
import asyncio, sys
from yourgpt_async import AsyncClient, BulkItem, RateLimit

base_url, uid, journal, count, concurrency = sys.argv[1:6]

async def main() -> None:
    async with AsyncClient(
        "apk-emulator-key", widget_uid=sys.argv[6], base_url=base_url,
        rate_limit=RateLimit.unlimited(),
    ) as client:
        items = (BulkItem(uid, f"crash {i}") for i in range(int(count)))
        async for _ in client.send_many(items, journal=journal, concurrency=int(concurrency)):
            pass

asyncio.run(main())
"""


def confirmed(journal: Path) -> int:
    try:
        text = journal.read_text(encoding="utf-8")
    except FileNotFoundError:
        return 0
    return text.count('"s":"sent"')


async def test_killed_run_resumes_without_sending_a_confirmed_item_twice(tmp_path: Path) -> None:
    """kill -9 mid-run, resume: nothing sent twice, all Sent or InDoubt, ≤ concurrency in doubt."""
    journal = tmp_path / "run.jsonl"
    count, concurrency = 80, 4
    with EmulatorThread(ai_latency=0.02) as emulator:
        async with AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            rate_limit=RateLimit.unlimited(),
        ) as client:
            uid = (await client.create_session()).session_uid
            argv = [emulator.base_url, uid, str(journal), str(count), str(concurrency)]
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-c", CRASHING_RUN, *argv, emulator.widget_uid),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                for _ in range(2000):  # up to 10 s, normally well under 1
                    if confirmed(journal) >= 10 or process.returncode is not None:
                        break
                    await asyncio.sleep(0.005)
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGKILL)
                await process.wait()
            assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"
            first_run = confirmed(journal)
            assert 10 <= first_run < count

            items = [BulkItem(uid, f"crash {i}") for i in range(count)]
            run = client.send_many(items, journal=journal, concurrency=concurrency)
            outcomes = await collect(run)

        ledger = [entry.message for entry in emulator.emulator.ledger]
    kinds = {o.index: type(o) for o in outcomes}
    assert set(kinds.values()) <= {Sent, InDoubt}
    assert run.summary().skipped >= first_run
    assert run.summary().skipped + len(outcomes) == count
    assert sum(kind is InDoubt for kind in kinds.values()) <= concurrency
    assert all(ledger.count(item.message) <= 1 for item in items)  # nothing sent twice
    for index, item in enumerate(items):
        if kinds.get(index, Sent) is Sent:
            assert ledger.count(item.message) == 1, item.message


def test_the_resume_index_keeps_every_key_as_it_grows() -> None:
    """The journal's key table finds every key and its flags after growing many times."""
    from yourgpt_async.bulk._journal import _DOUBT, _OPEN, _SENT
    from yourgpt_async.bulk._keys import KeyTable as _KeyTable

    table = _KeyTable()
    codes = [_KeyTable.code(f"key-{i}") for i in range(5000)]
    for number, code in enumerate(codes):
        table.update(code, set_flags=_OPEN)
        table.update(code, set_flags=_SENT if number % 2 else _DOUBT, clear_flags=_OPEN)
    assert [table.flags(code) for code in codes] == [
        _SENT if number % 2 else _DOUBT for number in range(5000)
    ]
    assert table.flags(_KeyTable.code("never written")) is None

"""Bulk sending, its journal and the ``bulk`` command under hostile conditions, against a small
server written here: odd keys and replies, two runs on one journal, a refused key, bad input
lines, an interrupt while items wait for their turn."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _hostile import KEY, HostileServer, Request, http, success

from yourgpt_async import (
    AsyncClient,
    AuthenticationError,
    BulkItem,
    BulkRun,
    BulkSummary,
    ConfigurationError,
    PermissionDeniedError,
    RateLimit,
    Sent,
)
from yourgpt_async._cli import main
from yourgpt_async._cli._progress import what_limits

UID = "17226012685401506"
Captured = pytest.CaptureFixture[str]


def echo() -> Any:
    """A sendMessage that answers each message with its text, numbered."""
    numbers = itertools.count(1)

    def reply(request: Request) -> bytes:
        text = request.body["message"]
        return success({"id": next(numbers), "message": f"re: {text}", "session_uid": UID})

    return reply


def client_for(server: HostileServer, **options: Any) -> AsyncClient:
    return AsyncClient(KEY, widget_uid="w-1", base_url=server.base_url, **options)


def cli(server: HostileServer, *argv: str) -> int:
    return main(["--api-key", KEY, "--base-url", server.base_url, "--widget-uid", "w", *argv])


def journal_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()][1:]


def consistent(path: Path) -> bool:
    """Every item the journal started, it also ended."""
    lines = journal_lines(path)
    return {r["k"] for r in lines if r["s"] == "start"} == {
        r["k"] for r in lines if r["s"] != "start"
    }


# -- the journal -----------------------------------------------------------------------------


async def test_a_lone_surrogate_key_round_trips(server: HostileServer, tmp_path: Path) -> None:
    """An item keyed "k3\\ud800" is journaled and, on resume, skipped; nothing aborts."""
    server.reply = echo()
    journal = tmp_path / "journal.jsonl"
    items = [BulkItem(UID, f"m{i}", key=f"k{i}\ud800") for i in range(5)]
    async with client_for(server) as client:
        first = [o async for o in client.send_many(items, journal=journal)]
        run = client.send_many(items, journal=journal)
        again = [o async for o in run]
    assert sorted(o.status for o in first) == ["sent"] * 5
    assert (again, run.summary().skipped, server.count()) == ([], 5, 5)
    assert "k3\ud800" in {r["k"] for r in journal_lines(journal)}


def test_a_lone_surrogate_in_a_reply_is_printed_and_written(
    server: HostileServer, tmp_path: Path, capsys: Captured
) -> None:
    """A reply holding \\ud800 after the message went out: send prints it, bulk --output
    writes it so that it reads back exactly; neither crashes."""
    server.reply = http(b'{"type": "RXSUCCESS", "data": {"id": 1, "message": "a\\ud800b"}}')
    assert cli(server, "send", UID, "hi") == 0
    assert cli(server, "send", UID, "hi", "--json") == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("a\\ud800b")
    assert json.loads(printed[1])["message"] == "a\ud800b"
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"session_uid": UID, "message": "hi"}) + "\n")
    assert cli(server, "bulk", str(source), "--output", str(output)) == 0
    assert json.loads(output.read_text(encoding="utf-8"))["reply"] == "a\ud800b"


async def test_a_second_run_on_a_journal_in_use_is_refused(
    server: HostileServer, tmp_path: Path
) -> None:
    """While one run holds the journal another gets a ConfigurationError and sends nothing;
    once the first is closed the journal is free again."""
    server.reply = echo()
    journal = tmp_path / "journal.jsonl"
    items = [(UID, f"m{i}") for i in range(20)]
    async with client_for(server) as client:
        first = client.send_many(items, journal=journal, concurrency=1)
        async with first:
            await anext(first)
            with pytest.raises(ConfigurationError, match="in use by another run"):
                async for _ in client.send_many(items, journal=journal):
                    pass
            assert server.count() <= 2
        resumed = [o async for o in client.send_many(items, journal=journal)]
    assert server.count() == 20  # each item once, over the two runs
    assert len(resumed) == 19


async def test_a_fifo_in_place_of_the_journal_is_refused_at_once(
    server: HostileServer, tmp_path: Path
) -> None:
    """A FIFO (or any other non-regular file) is refused without hanging in open()."""
    fifo = tmp_path / "journal.fifo"
    os.mkfifo(fifo)
    try:
        async with client_for(server) as client:
            run = client.send_many([(UID, "hi")], journal=fifo)
            with pytest.raises(ConfigurationError, match="not a regular file"):
                await asyncio.wait_for(anext(run), timeout=5)
    finally:  # were the run blocked in open(), opening the other end would free it
        for mode in (os.O_RDONLY, os.O_WRONLY):
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, mode | os.O_NONBLOCK))
    assert server.count() == 0


# -- a refused key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthenticationError), (403, PermissionDeniedError)]
)
async def test_a_refused_key_stops_the_run(
    server: HostileServer, tmp_path: Path, status: int, error: type[Exception]
) -> None:
    """200 items and a key the service refuses: the run stops at the first refusal, with the
    items in flight settled, the rest unsent and the journal consistent; a resumed run with the
    key accepted sends each of the others once."""
    refused = http({"type": "RXERROR", "message": "Invalid API key"}, status=status)
    server.reply = refused
    journal = tmp_path / "journal.jsonl"
    items = [(UID, f"m{i}") for i in range(200)]
    async with client_for(server, max_concurrency=4) as client:
        run = client.send_many(items, journal=journal, concurrency=8)
        outcomes = [o async for o in run]
        assert isinstance(run.stopped_by, error)
        assert 1 <= len(outcomes) <= 8
        assert all(o.status == "failed" for o in outcomes)
        assert server.count() <= 8
        assert consistent(journal)
        summary = run.summary()
        assert summary.failed + summary.not_sent == len(journal_lines(journal)) // 2
        server.reply = echo()
        resumed = [o async for o in client.send_many(items, journal=journal)]
    assert len(resumed) == 200
    assert all(isinstance(o, Sent) for o in resumed)
    assert server.count("sendMessage") - len(outcomes) == 200


def test_cli_exits_2_on_a_refused_key_and_lists_reasons(
    server: HostileServer, tmp_path: Path, capsys: Captured
) -> None:
    """bulk with a refused key exits 2 saying why; a summary lists each failure reason with
    its count."""
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"session_uid": UID, "message": f"m{i}"}) + "\n" for i in range(50))
    )
    server.reply = http({"type": "RXERROR", "message": "Invalid API key"}, status=401)
    assert cli(server, "bulk", str(source), "--concurrency", "2") == 2
    captured = capsys.readouterr()
    assert "bulk stopped at the first refusal" in captured.err
    assert "Invalid API key" in captured.err
    assert "× AuthenticationError (HTTP 401): Invalid API key" in captured.out
    assert server.count() <= 2

    statuses = iter([400, 400, 500, 400])
    server.reply = lambda _: http(
        {"type": "RXERROR", "message": "nope"}, status=next(statuses, 200), reason="X"
    )
    server.requests.clear()
    assert cli(server, "bulk", str(source), "--concurrency", "1", "--json") == 1
    reasons = json.loads(capsys.readouterr().out)["reasons"]
    assert reasons == {
        "BadRequestError (HTTP 400): nope": 3,
        "in doubt: ServerError (HTTP 500): nope": 1,
        "BadRequestError (HTTP 200): nope": 46,  # RXERROR at 200
    }


# -- the input file --------------------------------------------------------------------------


def test_invalid_utf8_and_overlong_csv_fields_are_bad_lines(
    server: HostileServer, tmp_path: Path, capsys: Captured
) -> None:
    """An invalid UTF-8 line in JSONL, and a CSV field over 128 KiB spanning lines: each is a
    bad line with its number, and every other line is sent."""
    server.reply = echo()
    good = json.dumps({"session_uid": UID, "message": "fine"}).encode()
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_bytes(
        good + b"\n" + b'{"session_uid": "1", "message": "\xff\xfe"}\n' + good + b"\n"
    )
    assert cli(server, "bulk", str(jsonl)) == 1
    err = capsys.readouterr().err
    assert "in.jsonl:2: skipped: not valid UTF-8 (byte 0xff)" in err
    assert server.count() == 2

    huge = "x" * 70_000 + "\n" + "a,b\n" * 20_000  # 150 KB: one quoted field, lines 2 to 20003
    rows = [f"{UID},one", f'{UID},"{huge}"', f"{UID},two", f"{UID},\xe9t\xe9"]
    csv_file = tmp_path / "in.csv"
    csv_file.write_bytes("\n".join(rows).encode().replace("\xe9".encode(), b"\xe9") + b"\n")
    server.requests.clear()
    assert cli(server, "bulk", str(csv_file), "--format", "csv") == 1
    err = capsys.readouterr().err
    assert "in.csv:2: skipped: a CSV record longer than 131072 characters" in err
    assert "in.csv:20005: skipped: not valid UTF-8" in err
    assert sorted(r.body["message"] for r in server.requests) == ["one", "two"]


# -- an interrupt ----------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [False, True])
async def test_stop_cancels_the_calls_waiting_for_their_turn(
    server: HostileServer, tmp_path: Path, ordered: bool
) -> None:
    """With one request a second allowed, stop() while the first is on the wire: it is awaited
    and Sent; the others, waiting for a rate-limit turn, are not sent, and a journal lets a
    resumed run send them."""
    server.reply = echo()
    server.release.clear()  # hold the first answer until the run has been stopped
    journal = tmp_path / "journal.jsonl"
    items = [(UID, f"m{i}") for i in range(16)]
    async with client_for(server, rate_limit=RateLimit(per_second=1)) as client:
        run = client.send_many(items, journal=journal, concurrency=16, ordered=ordered)
        first = asyncio.ensure_future(anext(run))
        assert await asyncio.to_thread(server.wait_for, 1)
        run.stop()
        server.release.set()
        outcome = await asyncio.wait_for(first, timeout=5)
        rest = [o async for o in run]
        summary = run.summary()
    assert (outcome.status, rest, server.count()) == ("sent", [], 1)
    assert (summary.sent, summary.not_sent, summary.cancelled) == (1, 15, 0)
    assert consistent(journal)
    async with client_for(server) as client:
        resumed = [o async for o in client.send_many(items, journal=journal)]
    assert sorted(o.index for o in resumed) == list(range(1, 16))
    assert server.count() == 16


def test_cli_ctrl_c_awaits_only_the_requests_on_the_wire(
    server: HostileServer, tmp_path: Path, capsys: Captured
) -> None:
    """`bulk --rate 1` interrupted while one request is on the wire and fifteen wait for their
    turn: it exits 130 at once, having sent one; the journal lets a rerun send the rest."""
    server.reply = echo()
    server.release.clear()
    source, journal = tmp_path / "in.jsonl", tmp_path / "journal.jsonl"
    lines = [json.dumps({"session_uid": UID, "message": f"m{i}"}) for i in range(16)]
    source.write_text("\n".join(lines) + "\n")

    def interrupt() -> None:
        assert server.wait_for(1)  # the first request is on the wire, held
        os.kill(os.getpid(), signal.SIGINT)  # the command's own handler takes it
        time.sleep(0.05)
        server.release.set()

    interrupter = threading.Thread(target=interrupt)
    interrupter.start()
    started = time.monotonic()
    argv = ["bulk", str(source), "--rate", "1", "--journal", str(journal), "--json"]
    code = cli(server, *argv)
    interrupter.join()
    summary = json.loads(capsys.readouterr().out)
    assert code == 130
    assert time.monotonic() - started < 5  # not 16 s of rate-limit turns
    assert (summary["sent"], summary["not_sent"], server.count()) == (1, 15, 1)
    assert consistent(journal)
    assert cli(server, "bulk", str(source), "--journal", str(journal)) == 0
    assert server.count() == 16


# -- what bounds a run ---------------------------------------------------------------------------


async def _poll(run: BulkRun, done: Callable[[BulkSummary], bool]) -> BulkSummary:
    """The run's summary once ``done`` holds of it (its requests reach the server meanwhile)."""
    for _ in range(500):
        summary = run.summary()
        if done(summary):
            return summary
        await asyncio.sleep(0.01)
    raise AssertionError(f"never reached: {run.summary()}")


async def test_the_summary_shows_a_run_bound_by_its_concurrency(server: HostileServer) -> None:
    """Every place taken and every request on the wire: at capacity, none waiting, and the
    progress line says the concurrency is the limit."""
    server.reply = echo()
    server.release.clear()
    async with client_for(server) as client:
        run = client.send_many([(UID, f"m{i}") for i in range(6)], concurrency=2)
        first = asyncio.ensure_future(anext(run))
        assert await asyncio.to_thread(server.wait_for, 2)
        summary = await _poll(run, lambda s: s.in_flight == 2 and s.at_capacity)
        assert summary.waiting == 0
        assert what_limits(summary, 2).startswith("limited by --concurrency 2: all 2 in flight")
        server.release.set()
        await first
        assert len([o async for o in run]) == 5
        assert run.summary().waiting == 0


async def test_the_summary_shows_a_run_paced_by_the_rate_limit(server: HostileServer) -> None:
    """At one request a second, the items in flight but the first wait for their turn: the
    summary counts them as waiting, and the progress line blames the rate limit."""
    server.reply = echo()
    server.release.clear()
    # The limiter's clock stands still: after the first, no turn ever comes, however slow the
    # machine is to look.
    frozen = RateLimit(per_second=1, clock=lambda: 1000.0)
    async with client_for(server, rate_limit=frozen) as client:
        run = client.send_many([(UID, f"m{i}") for i in range(8)], concurrency=4)
        first = asyncio.ensure_future(anext(run))
        assert await asyncio.to_thread(server.wait_for, 1)
        summary = await _poll(run, lambda s: s.waiting == 3)
        assert (summary.in_flight, summary.at_capacity) == (4, True)
        assert what_limits(summary, 4) == "3 of 4 in flight waiting for the rate limit"
        run.stop()
        server.release.set()
        await first
        assert [o async for o in run] == []

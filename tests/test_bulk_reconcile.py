"""send_many and the `bulk` command with reconciling: settled items are Sent (``settled``) or
resent, only the undecidable stay InDoubt, and a resume reads back what an earlier run left in
doubt before deciding to resend it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import attrs
import pytest
from _fakes import ClientFactory, FakeClock, new_session, write_jsonl

from yourgpt_async import (
    AsyncClient,
    BulkItem,
    BulkRun,
    BulkSummary,
    Failed,
    InDoubt,
    RetryPolicy,
    Sent,
)
from yourgpt_async._cli import main
from yourgpt_async.testing import Emulator, EmulatorThread, Fault

Outcome = Sent | Failed | InDoubt


async def collect(run: BulkRun) -> tuple[dict[str, Outcome], BulkSummary]:
    async with run:
        outcomes = {outcome.key: outcome async for outcome in run}
    return outcomes, run.summary()


@pytest.fixture
def reconciled(make_client: ClientFactory, fake_clock: FakeClock) -> AsyncClient:
    return make_client(
        retry=RetryPolicy(reconcile=True, sleep=fake_clock.sleep, clock=fake_clock.clock)
    )


def items(uid: str, count: int) -> list[BulkItem]:
    return [BulkItem(uid, f"note {n}", key=f"k{n}") for n in range(count)]


async def test_settled_items_are_sent_and_counted(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """Lost after storing: Sent with settled=True, not resent; lost before storing: resent and
    Sent; every message delivered once; the read-backs are counted in the summary."""
    uid = (await reconciled.create_session()).session_uid
    emulator.fault_plan.add(
        "sendMessage",
        Fault.drop_after(),
        Fault.drop_before(),
        None,
        Fault.status_after(500),
    )
    outcomes, summary = await collect(reconciled.send_many(items(uid, 6), concurrency=1))
    assert all(isinstance(outcome, Sent) for outcome in outcomes.values())
    settled = {key for key, outcome in outcomes.items() if getattr(outcome, "settled", False)}
    # k0 settled; k1 lost, waits, and is resent, while k2 goes: one of the two meets the 500
    assert len(settled) == 2
    assert "k0" in settled
    assert [emulator.delivered(f"note {n}") for n in range(6)] == [1] * 6
    assert (summary.sent, summary.settled, summary.in_doubt) == (6, 2, 0)
    assert summary.read_backs == 1 + 2 + 1 == emulator.request_count("getSessionMessages")
    assert emulator.request_count("sendMessage") == 7  # the one not stored, sent twice


async def test_only_the_undecidable_stay_in_doubt(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """A read-back that fails leaves its item InDoubt, saying why; the others settle."""
    uid = (await reconciled.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.drop_after(), Fault.drop_after())
    emulator.fault_plan.add("getSessionMessages", Fault.status(403))
    outcomes, summary = await collect(reconciled.send_many(items(uid, 3), concurrency=1))
    assert isinstance(outcomes["k0"], InDoubt)
    assert "the read-back failed" in str(outcomes["k0"].error)
    assert isinstance(outcomes["k1"], Sent)
    assert outcomes["k1"].settled
    assert (summary.sent, summary.settled, summary.in_doubt, summary.read_backs) == (2, 1, 1, 2)


async def test_without_reconcile_nothing_is_read_back(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """The default policy: in doubt as before, no read-back, settled stays False."""
    client = make_client()
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    outcomes, summary = await collect(client.send_many(items(uid, 2)))
    assert isinstance(outcomes["k0"], InDoubt)
    assert isinstance(outcomes["k1"], Sent)
    assert not outcomes["k1"].settled
    assert (summary.settled, summary.read_backs) == (0, 0)
    assert emulator.request_count("getSessionMessages") == 0


def test_sent_and_summary_keep_their_constructors() -> None:
    """The new fields have defaults: existing constructor calls stay valid."""
    sent = Sent(item=BulkItem("1", "x"), reply=None, key="k", index=0)  # type: ignore[arg-type]
    assert sent.settled is False
    assert attrs.asdict(BulkSummary())["read_backs"] == 0


async def test_an_item_waiting_to_settle_lets_another_start(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """At concurrency 1, the item waiting out the settle time sends nothing, so the next item
    goes meanwhile (here the wait ends only once the second message is delivered)."""
    second_delivered = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await fake_clock.sleep(seconds)
        if seconds >= 1:  # the settle wait
            await second_delivered.wait()

    client = make_client(retry=RetryPolicy(reconcile=True, sleep=sleep, clock=fake_clock.clock))
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.drop_before())
    run = client.send_many(items(uid, 2), concurrency=1)
    async with run:
        async for outcome in run:
            assert isinstance(outcome, Sent)
            if outcome.key == "k1":
                second_delivered.set()
    assert [entry.message for entry in emulator.ledger] == ["note 1", "note 0"]


# -- resuming an earlier run's in-doubt items ------------------------------------------------


async def first_run(client: AsyncClient, emulator: Emulator, uid: str, journal: Path) -> None:
    """An earlier run without reconciling: k0 stored and lost, k1 lost before storing."""
    emulator.fault_plan.add("sendMessage", Fault.drop_after(), Fault.drop_before())
    outcomes, _ = await collect(client.send_many(items(uid, 3), concurrency=1, journal=journal))
    assert [type(outcome).__name__ for outcome in outcomes.values()] == [
        "InDoubt",
        "InDoubt",
        "Sent",
    ]


async def test_a_resume_settles_what_an_earlier_run_left_in_doubt(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """Resumed with reconciling: the stored one is Sent (settled) without a resend, the lost one
    is resent after the earlier call's deadline and the settle time have passed."""
    journal = tmp_path / "run.journal"
    plain = make_client()
    uid = (await plain.create_session()).session_uid
    await first_run(plain, emulator, uid, journal)
    emulator.reset()
    client = make_client(
        retry=RetryPolicy(reconcile=True, sleep=fake_clock.sleep, clock=fake_clock.clock)
    )
    outcomes, summary = await collect(client.send_many(items(uid, 3), journal=journal))
    assert set(outcomes) == {"k0", "k1"}
    k0, k1 = outcomes["k0"], outcomes["k1"]
    assert isinstance(k0, Sent)
    assert k0.settled
    assert k0.reply.message == "You said: note 0"
    assert isinstance(k1, Sent)
    assert not k1.settled
    assert [entry.message for entry in emulator.ledger] == ["note 1"]  # only the lost one
    assert (summary.sent, summary.settled, summary.skipped, summary.read_backs) == (2, 1, 1, 3)
    assert max(fake_clock.sleeps) > 90  # until the earlier call's deadline + settle had passed
    # A third run sends nothing: the journal now shows both delivered.
    outcomes, summary = await collect(client.send_many(items(uid, 3), journal=journal))
    assert (outcomes, summary.skipped) == ({}, 3)


async def test_a_resume_without_start_times_leaves_them_in_doubt(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """A journal whose start lines carry no time (an older one) cannot be read back against:
    its in-doubt items stay in doubt, unread."""
    journal = tmp_path / "run.journal"
    plain = make_client()
    uid = (await plain.create_session()).session_uid
    await first_run(plain, emulator, uid, journal)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    journal.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "t"}) + "\n" for r in lines)
    )
    emulator.reset()
    client = make_client(
        retry=RetryPolicy(reconcile=True, sleep=fake_clock.sleep, clock=fake_clock.clock)
    )
    outcomes, summary = await collect(client.send_many(items(uid, 3), journal=journal))
    assert all(isinstance(outcome, InDoubt) for outcome in outcomes.values())
    assert summary.read_backs == 0
    assert emulator.ledger == []


async def test_a_resume_resends_the_undecidable_only_when_told(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """A read-back that fails: in doubt; with resend_in_doubt, resent."""
    journal = tmp_path / "run.journal"
    plain = make_client()
    uid = (await plain.create_session()).session_uid
    await first_run(plain, emulator, uid, journal)
    emulator.reset()
    client = make_client(
        retry=RetryPolicy(
            reconcile=True, attempts=1, sleep=fake_clock.sleep, clock=fake_clock.clock
        )
    )
    emulator.fault_plan.add("getSessionMessages", Fault.status(500), times=2)
    outcomes, _ = await collect(client.send_many(items(uid, 3), journal=journal, concurrency=1))
    assert all(isinstance(outcome, InDoubt) for outcome in outcomes.values())
    assert "did not settle it" in str(outcomes["k0"].error)  # type: ignore[union-attr]
    emulator.fault_plan.add("getSessionMessages", Fault.status(500), times=2)
    outcomes, _ = await collect(
        client.send_many(items(uid, 3), journal=journal, concurrency=1, resend_in_doubt=True)
    )
    assert all(isinstance(outcome, Sent) for outcome in outcomes.values())
    assert sorted(entry.message for entry in emulator.ledger) == ["note 0", "note 1"]


async def test_a_bad_reconcile_argument_is_refused(reconciled: AsyncClient) -> None:
    """BulkRun checks what it is given."""
    from yourgpt_async import ConfigurationError
    from yourgpt_async.bulk._kind import _Job
    from yourgpt_async.bulk._messages import MESSAGES

    job = _Job(MESSAGES, reconciled._caller)
    with pytest.raises(ConfigurationError, match="reconcile must be a RetryPolicy"):
        BulkRun(job, [], concurrency=1, reconcile="yes")  # type: ignore[arg-type]


# -- the command line ------------------------------------------------------------------------


def test_bulk_reconcile_settles_and_reports_the_read_backs(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bulk --reconcile`: the item whose answer was lost is found sent; exit 0; the summary
    counts it and the read-back it cost."""
    uid = new_session(yourgpt_env)
    yourgpt_env.emulator.fault_plan.add("sendMessage", Fault.drop_after())
    source = write_jsonl(tmp_path / "in.jsonl", [{"session_uid": uid, "message": "lost"}])
    assert main(["bulk", str(source), "--reconcile"]) == 0
    assert "settled by read-back 1 (1 read-backs)" in capsys.readouterr().out
    other = write_jsonl(tmp_path / "other.jsonl", [{"session_uid": uid, "message": "found"}])
    yourgpt_env.emulator.fault_plan.add("sendMessage", Fault.drop_after())
    assert main(["bulk", str(other), "--reconcile", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["sent"], summary["settled"], summary["read_backs"]) == (1, 1, 1)
    assert [entry.message for entry in yourgpt_env.emulator.ledger] == ["lost", "found"]


def test_bulk_resume_with_reconcile_settles_the_journal(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An in-doubt item of an earlier run, delivered after all, is settled on resume with
    --reconcile instead of being reported (or resent)."""
    uid = new_session(yourgpt_env)
    source = write_jsonl(tmp_path / "in.jsonl", [{"session_uid": uid, "message": "lost"}])
    journal = tmp_path / "run.journal"
    yourgpt_env.emulator.fault_plan.add("sendMessage", Fault.drop_after())
    assert main(["bulk", str(source), "--journal", str(journal)]) == 1
    assert main(["bulk", str(source), "--journal", str(journal), "--reconcile", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (summary["sent"], summary["settled"], summary["in_doubt"]) == (1, 1, 0)
    assert [entry.message for entry in yourgpt_env.emulator.ledger] == ["lost"]


def test_send_reconcile(yourgpt_env: EmulatorThread, capsys: pytest.CaptureFixture[str]) -> None:
    """`send --reconcile` prints the reply found by reading the session back; exit 0."""
    uid = new_session(yourgpt_env)
    yourgpt_env.emulator.fault_plan.add("sendMessage", Fault.status_after(502))
    assert main(["send", uid, "Any news?", "--reconcile"]) == 0
    assert "You said: Any news?" in capsys.readouterr().out
    assert [entry.message for entry in yourgpt_env.emulator.ledger] == ["Any news?"]


def test_start_times_read_from_a_journal(tmp_path: Path) -> None:
    """The earliest start of each item left open or in doubt; ended ones and junk are skipped."""
    from yourgpt_async.bulk._starts import read_start_times

    journal = tmp_path / "run.journal"
    assert read_start_times(journal) == {}  # no journal yet
    lines = [
        {"journal": "yourgpt-async", "version": 1, "input": {}},
        {"k": "open", "s": "start", "t": 10.5},
        {"k": "open", "s": "start", "t": 20.0},  # started again: the first start counts
        {"k": "doubt", "s": "start", "t": 11},
        {"k": "doubt", "s": "in_doubt"},
        {"k": "done", "s": "start", "t": 12},
        {"k": "done", "s": "sent", "id": 3},
        {"k": "retried", "s": "start", "t": 13},
        {"k": "retried", "s": "failed", "e": "HTTP 400"},
        {"k": "retried", "s": "start", "t": 14},
        {"k": "untimed", "s": "start"},
        {"k": "bad", "s": "start", "t": True},
        ["not", "a", "record"],
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    journal.write_text(
        text
        + "not json\n"
        + '{"k": "huge", "s": "start", "t": 1e999}\n'
        + '{"k": "torn", "s": "start", "t": 1'
    )
    assert read_start_times(journal) == {"open": 10.5, "doubt": 11.0, "retried": 14.0}

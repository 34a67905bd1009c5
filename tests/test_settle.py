"""The read-back decision, pure: given a send and the session's newest messages, what happened.

Also the reading loop (pages, the deadline, a failed read, the settle wait) over a fake reader,
and the record of this client's own identical sends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest
from _fakes import FakeClock

from yourgpt_async import ConfigurationError, RetryPolicy, ServerError, SessionMessage
from yourgpt_async._readback import look, settle, track
from yourgpt_async._settle import (
    READ_BACK_LIMIT,
    READ_BACK_PAGES,
    SAME_MOMENT,
    Outcome,
    Sending,
    Target,
    decide,
    normalise,
)
from yourgpt_async.types import AILogEntry, Page

STARTED = 1_700_000_000.0  # when the send began, on this machine's clock
UID = "17226012685401506"


def at(seconds: float) -> datetime:
    """A service timestamp ``seconds`` after the send began."""
    return datetime.fromtimestamp(STARTED + seconds, timezone.utc)


def msg(
    id: int,
    text: str,
    *,
    after: float | None = 0.1,
    send_by: str = "user",
    answers: int | None = None,
) -> SessionMessage:
    ai_log = () if answers is None else (AILogEntry(query_message_id=answers),)
    return SessionMessage(
        id=id,
        send_by=send_by,
        message=text,
        created_at=None if after is None else at(after),
        ai_log=ai_log,
    )


def target(text: str = "Cancel order 1042", sender: str = "user") -> Target:
    return Target.of(UID, text, sender, started=STARTED, clock_skew=60.0)


def decided(
    messages: Sequence[SessionMessage],
    *,
    text: str = "Cancel order 1042",
    complete: bool = True,
    settled: bool = True,
    overlapped: bool = False,
) -> Outcome:
    verdict = decide(
        target(text), messages, complete=complete, settled=settled, overlapped=overlapped
    )
    return verdict.outcome


# -- decide ----------------------------------------------------------------------------------


def test_an_empty_session_is_not_delivered_once_settled() -> None:
    """Nothing like it: not delivered, but only once the service has had its settle time."""
    assert decided([]) is Outcome.NOT_DELIVERED
    assert decided([], settled=False) is Outcome.NOT_YET
    other = [msg(12, "You said: hi", send_by="assistant"), msg(11, "hi")]
    assert decided(other) is Outcome.NOT_DELIVERED


def test_the_one_message_found_is_delivered_with_the_ai_reply() -> None:
    """Exactly one message with the same text and sender since the call began: delivered, and
    the AI's answer to it (linked by its AI log) comes with it."""
    mine = msg(41, "Cancel order 1042", after=0.2)
    reply = msg(42, "Done.", after=0.9, send_by="assistant", answers=41)
    verdict = decide(target(), [reply, mine], complete=True, settled=False)
    assert verdict.outcome is Outcome.DELIVERED
    assert verdict.message is mine
    assert verdict.reply is reply


def test_a_message_found_without_an_answer_has_no_reply() -> None:
    """An assistant message not linked to the send is not taken for its answer."""
    other = msg(43, "Anything else?", after=0.9, send_by="assistant", answers=7)
    verdict = decide(target(), [other, msg(41, "Cancel order 1042")], complete=True, settled=True)
    assert verdict.outcome is Outcome.DELIVERED
    assert verdict.reply is None


def test_a_timestamp_a_little_before_the_call_still_counts() -> None:
    """Timestamps cut to whole seconds, or clocks a little apart: within SAME_MOMENT it is ours."""
    assert decided([msg(41, "Cancel order 1042", after=-(SAME_MOMENT - 0.5))]) is (
        Outcome.DELIVERED
    )


def test_an_identical_message_from_before_the_call_is_not_taken_for_it() -> None:
    """An identical message stamped 10 s before the call began may be an earlier one, and this
    send may be missing: undecidable, never delivered."""
    verdict = decide(
        target(), [msg(30, "Cancel order 1042", after=-10)], complete=True, settled=True
    )
    assert verdict.outcome is Outcome.UNDECIDABLE
    assert "before this call began" in verdict.reason


def test_an_identical_message_older_than_the_clock_skew_is_ignored() -> None:
    """One from long before the window is not this send: alone, the send was not delivered;
    beside a new one, the new one is it."""
    old = msg(3, "Cancel order 1042", after=-600)
    assert decided([old]) is Outcome.NOT_DELIVERED
    assert decided([msg(41, "Cancel order 1042"), old]) is Outcome.DELIVERED


def test_two_messages_like_it_are_undecidable() -> None:
    """Two identical messages since the call began: which is this send's cannot be told."""
    verdict = decide(
        target(),
        [msg(42, "Cancel order 1042", after=0.5), msg(41, "Cancel order 1042", after=0.2)],
        complete=True,
        settled=True,
    )
    assert verdict.outcome is Outcome.UNDECIDABLE
    assert "2 messages like it" in verdict.reason


def test_another_sender_or_an_altered_text_is_undecidable() -> None:
    """The same text from another sender, or the text cut short by the service, could be this
    send stored differently: undecidable rather than "not delivered" (which would resend it)."""
    assert decided([msg(41, "Cancel order 1042", send_by="operator")]) is Outcome.UNDECIDABLE
    assert decided([msg(41, "Cancel order 1042", send_by="visitor")]) is Outcome.UNDECIDABLE
    long_text = "Please cancel order 1042 " * 8
    cut = msg(41, long_text[:70])
    assert decided([cut], text=long_text) is Outcome.UNDECIDABLE
    # A short text that merely begins the same way is another message.
    assert decided([msg(41, "Cancel")]) is Outcome.NOT_DELIVERED


def test_texts_are_compared_as_the_service_may_store_them() -> None:
    """White space runs, entities and Unicode normal forms do not make a message another one."""
    assert normalise("  Cancel\n order&amp;co  ") == "Cancel order&co"
    assert decided([msg(41, "Cancel  order\t1042 ")]) is Outcome.DELIVERED
    assert decided([msg(41, "Caf\u00e9")], text="Cafe\u0301") is Outcome.DELIVERED


def test_an_overlapping_send_of_the_same_text_is_undecidable() -> None:
    """This client sent the same text into the same session meanwhile: the one message found
    may be that one's."""
    verdict = decide(
        target(), [msg(41, "Cancel order 1042")], complete=True, settled=True, overlapped=True
    )
    assert verdict.outcome is Outcome.UNDECIDABLE
    assert "overlapped" in verdict.reason
    # Nothing found stays "not delivered": neither send is there.
    assert decided([], overlapped=True) is Outcome.NOT_DELIVERED


def test_a_listing_that_does_not_reach_back_far_enough_is_undecidable() -> None:
    """Without every message since the window began, neither answer is safe."""
    assert decided([msg(41, "Cancel order 1042")], complete=False) is Outcome.UNDECIDABLE
    assert decided([], complete=False) is Outcome.UNDECIDABLE


def test_a_listing_oldest_first_is_undecidable() -> None:
    """A service that ignored the order and listed oldest first has not shown the newest."""
    ascending = [msg(40, "Hi", after=-30), msg(41, "Later", after=-20)]
    verdict = decide(target(), ascending, complete=True, settled=True)
    assert verdict.outcome is Outcome.UNDECIDABLE
    assert "newest first" in verdict.reason
    by_id = [msg(40, "Hi", after=None), msg(41, "Later", after=None)]
    assert decided(by_id) is Outcome.UNDECIDABLE
    assert decided(list(reversed(by_id))) is Outcome.NOT_DELIVERED


def test_a_message_without_a_timestamp_cannot_be_dated() -> None:
    """A match with no createdAt may be from any time: undecidable."""
    assert decided([msg(41, "Cancel order 1042", after=None)]) is Outcome.UNDECIDABLE


def test_the_target_watermarks() -> None:
    """The tight watermark is SAME_MOMENT before the start; the wide one clock_skew before."""
    wide = Target.of(UID, "x", "user", started=STARTED, clock_skew=300)
    assert wide.tight == at(-SAME_MOMENT)
    assert wide.wide == at(-300)
    assert Target.of(UID, "x", "user", started=STARTED, clock_skew=0.5).wide == at(-SAME_MOMENT)


# -- reading back ----------------------------------------------------------------------------


class Reader:
    """A fake getSessionMessages over a list of messages, newest first; counts its reads."""

    def __init__(self, messages: list[SessionMessage], *, fail: bool = False) -> None:
        self.messages = messages
        self.fail = fail
        self.pages: list[int] = []
        self.deadlines: list[float] = []

    async def __call__(self, page: int, budget: RetryPolicy) -> Page[SessionMessage]:
        self.pages.append(page)
        self.deadlines.append(budget.deadline)
        assert not budget.reconcile
        if self.fail:
            raise ServerError("HTTP 500", status=500, endpoint="getSessionMessages")
        start = (page - 1) * READ_BACK_LIMIT
        items = tuple(self.messages[start : start + READ_BACK_LIMIT])
        return Page(items=items, page=page, limit=READ_BACK_LIMIT, total=len(self.messages))


def busy(count: int, *, every: float) -> list[SessionMessage]:
    """``count`` other messages, newest first, one each ``every`` seconds back from the start."""
    return [msg(1000 - n, f"other {n}", after=-n * every) for n in range(count)]


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


def policy(fake: FakeClock, **overrides: float) -> RetryPolicy:
    return RetryPolicy(reconcile=True, sleep=fake.sleep, clock=fake.clock, **overrides)  # type: ignore[arg-type]


async def test_look_reads_pages_until_past_the_window(fake: FakeClock) -> None:
    """Pages are read newest first until one reaches past the window: here the second."""
    reader = Reader([msg(2000, "Cancel order 1042"), *busy(120, every=1.0)])
    report = track()
    verdict = await look(
        reader, target(), policy=policy(fake), deadline_at=fake.now + 10, settled=True
    )
    assert verdict.outcome is Outcome.DELIVERED
    assert reader.pages == [1, 2]
    assert report.read_backs == 2
    assert reader.deadlines == [10, 10]  # each read gets what is left of the call's deadline


async def test_look_gives_up_on_a_session_too_busy_to_read_back(fake: FakeClock) -> None:
    """More messages within the window than READ_BACK_PAGES pages hold: undecidable."""
    reader = Reader(busy(READ_BACK_LIMIT * READ_BACK_PAGES + 10, every=0.1))
    verdict = await look(
        reader, target(), policy=policy(fake), deadline_at=fake.now + 10, settled=True
    )
    assert verdict.outcome is Outcome.UNDECIDABLE
    assert reader.pages == list(range(1, READ_BACK_PAGES + 1))


async def test_a_failed_read_back_is_undecidable(fake: FakeClock) -> None:
    """A read-back that fails (after its own retries) cannot settle anything."""
    verdict = await look(
        Reader([], fail=True),
        target(),
        policy=policy(fake),
        deadline_at=fake.now + 10,
        settled=True,
    )
    assert verdict.outcome is Outcome.UNDECIDABLE
    assert "the read-back failed" in verdict.reason
    assert "HTTP 500" in verdict.reason


async def test_no_read_back_past_the_deadline(fake: FakeClock) -> None:
    """With the call's deadline spent, nothing is read and the send stays undecided."""
    reader = Reader([])
    verdict = await look(reader, target(), policy=policy(fake), deadline_at=fake.now, settled=True)
    assert verdict.outcome is Outcome.UNDECIDABLE
    assert reader.pages == []


async def test_settle_looks_at_once_then_after_the_settle_time(fake: FakeClock) -> None:
    """Not there at once: wait until `settle` seconds after the failure, look again, and only
    then call it not delivered."""
    reader = Reader([])
    failed_at = fake.now
    fake.advance(0.5)  # the first read-back took a while
    verdict = await settle(
        reader,
        target(),
        policy=policy(fake, settle=5),
        failed_at=failed_at,
        deadline_at=fake.now + 60,
    )
    assert verdict.outcome is Outcome.NOT_DELIVERED
    assert reader.pages == [1, 1]
    assert fake.sleeps == [pytest.approx(4.5)]


async def test_settle_finds_a_message_stored_during_the_wait(fake: FakeClock) -> None:
    """A message the service stores while the client waits is found by the second look."""
    reader = Reader([])

    async def sleep(seconds: float) -> None:
        await fake.sleep(seconds)
        reader.messages = [msg(41, "Cancel order 1042", after=3)]

    verdict = await settle(
        reader,
        target(),
        policy=RetryPolicy(reconcile=True, sleep=sleep, clock=fake.clock),
        failed_at=fake.now,
        deadline_at=fake.now + 60,
    )
    assert verdict.outcome is Outcome.DELIVERED


async def test_settle_with_no_time_to_wait_is_undecidable(fake: FakeClock) -> None:
    """A deadline that ends before the settle time leaves a missing message undecided."""
    reader = Reader([])
    verdict = await settle(
        reader,
        target(),
        policy=policy(fake, settle=5),
        failed_at=fake.now,
        deadline_at=fake.now + 3,
    )
    assert verdict.outcome is Outcome.UNDECIDABLE
    assert "deadline ends before" in verdict.reason
    assert fake.sleeps == []


async def test_a_zero_settle_time_decides_at_once(fake: FakeClock) -> None:
    """settle=0 (a service that stores before answering): one look decides."""
    reader = Reader([])
    verdict = await settle(
        reader,
        target(),
        policy=policy(fake, settle=0),
        failed_at=fake.now,
        deadline_at=fake.now + 60,
    )
    assert verdict.outcome is Outcome.NOT_DELIVERED
    assert reader.pages == [1]


# -- this client's own sends -----------------------------------------------------------------


def test_concurrent_identical_sends_mark_each_other() -> None:
    """Two sends of one text into one session overlap; others do not."""
    sending = Sending()
    first = sending.enter(target().key)
    other = sending.enter(target("something else").key)
    assert not first.overlapped
    second = sending.enter(target().key)
    assert first.overlapped
    assert second.overlapped
    assert not other.overlapped
    for ticket in (first, second, other):
        sending.leave(ticket)


def test_a_send_that_just_ended_marks_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """One that ended less than SAME_MOMENT ago overlaps the next; after that it is forgotten."""
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    sending = Sending()
    sending.leave(sending.enter(target().key))
    now[0] += SAME_MOMENT / 2
    assert sending.enter(target().key).overlapped
    sending = Sending()
    sending.leave(sending.enter(target().key))
    now[0] += SAME_MOMENT + 0.1
    assert not sending.enter(target().key).overlapped
    assert len(sending) == 1  # the ended one was forgotten; the one in progress is kept


def test_reconcile_settings_are_checked() -> None:
    """Bad reconcile settings are refused before any request, naming the value."""
    with pytest.raises(ConfigurationError, match="retry_unsafe"):
        RetryPolicy(reconcile=True, retry_unsafe=True)
    with pytest.raises(ConfigurationError, match="settle"):
        RetryPolicy(settle=-1)
    with pytest.raises(ConfigurationError, match="clock_skew"):
        RetryPolicy(clock_skew=0)
    with pytest.raises(ConfigurationError, match="reconcile must be True or False"):
        RetryPolicy(reconcile="yes")  # type: ignore[arg-type]
    assert RetryPolicy(settle=0).settle == 0


def test_a_watermark_is_a_moment_in_utc() -> None:
    """The wall-clock start becomes an aware UTC datetime, comparable with createdAt."""
    assert target().tight.tzinfo is not None
    assert target().tight + timedelta(seconds=SAME_MOMENT) == at(0)

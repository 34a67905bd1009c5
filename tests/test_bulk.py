"""send_many over real loopback HTTP against the emulator: outcomes, bounds, order, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from _fakes import ClientFactory, collect

from yourgpt_async import (
    AsyncClient,
    BadRequestError,
    BulkItem,
    BulkSummary,
    ConfigurationError,
    DeliveryUnknownError,
    Failed,
    InDoubt,
    RateLimit,
    RetryPolicy,
    SendBy,
    Sent,
)
from yourgpt_async.testing import Emulator, EmulatorRateLimit, Fault


async def session_uid(client: AsyncClient) -> str:
    return (await client.create_session()).session_uid


def bulk_tasks() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("yourgpt-bulk") and not task.done()
    ]


class Counted:
    """A lazy input that counts how many items have been taken from it."""

    def __init__(self, items: list[BulkItem]) -> None:
        self.items = items
        self.taken = 0

    def __iter__(self) -> Iterator[BulkItem]:
        for item in self.items:
            self.taken += 1
            yield item


# -- the headline property -------------------------------------------------------------------


async def test_every_item_gets_one_outcome_under_faults_and_a_rate_limit() -> None:
    """Under faults and a 429ing limit: one outcome per item, Sent once in the ledger, bad never."""
    async with Emulator(rate_limit=EmulatorRateLimit(per_second=400, burst=5)) as emulator:
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=RetryPolicy(initial_backoff=0.005, max_backoff=0.02, deadline=10),
            rate_limit=RateLimit(initial_per_second=300),
        )
        async with client:
            uid = await session_uid(client)
            emulator.fault_plan.add(
                "sendMessage",
                Fault.status(503),  # retried: Sent
                Fault.status(429, retry_after=0),  # retried: Sent
                Fault.drop_after(),  # delivered, no answer: InDoubt
                Fault.drop_before(),  # not delivered, no answer: InDoubt
                Fault.status(400),  # refused: Failed
                Fault.truncated(),  # delivered, unreadable 200: InDoubt
                Fault.status(500),  # not processed, yet ambiguous for sendMessage: InDoubt
            )
            good = [BulkItem(uid, f"message {i}") for i in range(60)]
            bad: list[object] = [
                (uid, ""),
                ("", "no session"),
                (uid, "bad sender", "robot"),
                BulkItem(uid, "bad key", key="#reserved"),
                42,
            ]
            items: list[object] = [*good[:30], *bad, *good[30:]]
            outcomes = await collect(client.send_many(items, concurrency=8))  # type: ignore[arg-type]

    assert sorted(o.index for o in outcomes) == list(range(len(items)))
    by_index = {o.index: o for o in outcomes}
    for index, raw in enumerate(items):
        outcome = by_index[index]
        if raw in bad:
            assert isinstance(outcome, Failed)
            assert isinstance(outcome.error, ConfigurationError)
            assert f"item {index}" in str(outcome.error)
            continue
        text = outcome.item.message
        delivered = emulator.delivered(text)
        if isinstance(outcome, Sent):
            assert delivered == 1, text
            assert outcome.reply.message == f"You said: {text}"
        elif isinstance(outcome, InDoubt):
            assert delivered <= 1, text
        else:
            assert isinstance(outcome.error, BadRequestError)
            assert delivered == 0, text
    bad_texts = {"", "no session", "bad sender", "bad key"}
    assert not [entry for entry in emulator.ledger if entry.message in bad_texts]
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds.count("InDoubt") == 4
    assert kinds.count("Failed") == len(bad) + 1
    assert kinds.count("Sent") == len(good) - 5
    assert emulator.count_status(429) >= 1


async def test_summary_counts_match_the_outcomes(client: AsyncClient, emulator: Emulator) -> None:
    """summary() counts sent, failed and in doubt, with elapsed time and the achieved rate."""
    uid = await session_uid(client)
    emulator.fault_plan.add("sendMessage", Fault.drop_after(), Fault.status(400))
    run = client.send_many([(uid, f"m{i}") for i in range(10)] + [(uid, " ")], concurrency=1)
    before = run.summary()
    await collect(run)
    summary = run.summary()
    assert before == BulkSummary()
    assert (summary.sent, summary.failed, summary.in_doubt) == (8, 2, 1)
    assert (summary.skipped, summary.cancelled, summary.in_flight) == (0, 0, 0)
    assert summary.completed == 11
    assert summary.finished
    assert summary.elapsed > 0
    assert summary.rate == pytest.approx(8 / summary.elapsed)


async def test_in_doubt_carries_a_delivery_unknown_error(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A lost answer is InDoubt with DeliveryUnknownError, and the item is not resent."""
    uid = await session_uid(client)
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    [outcome] = await collect(client.send_many([(uid, "once")]))
    assert isinstance(outcome, InDoubt)
    assert isinstance(outcome.error, DeliveryUnknownError)
    assert emulator.request_count("sendMessage") == 1
    assert emulator.delivered("once") == 1


# -- items -----------------------------------------------------------------------------------


async def test_tuples_and_items_are_accepted(client: AsyncClient, emulator: Emulator) -> None:
    """Tuples of 2, 3 or 4 fields and BulkItems are all sent, with their sender and key."""
    uid = await session_uid(client)
    items: list[BulkItem | tuple[object, ...]] = [
        (uid, "as user"),
        (uid, "as assistant", "assistant"),
        (uid, "as operator", SendBy.OPERATOR, "my-key"),
        BulkItem(int(uid), "numeric uid"),  # type: ignore[arg-type]
    ]
    outcomes = await collect(client.send_many(items, ordered=True))
    assert all(isinstance(o, Sent) for o in outcomes)
    assert [o.item.send_by for o in outcomes] == [
        SendBy.USER,
        SendBy.ASSISTANT,
        SendBy.OPERATOR,
        SendBy.USER,
    ]
    assert outcomes[2].key == "my-key"
    assert outcomes[0].key.startswith("#0:")
    assert outcomes[3].item.session_uid == uid
    assert sorted((e.message, e.send_by) for e in emulator.ledger) == [
        ("as assistant", "assistant"),
        ("as operator", "operator"),
        ("as user", "user"),
        ("numeric uid", "user"),
    ]


async def test_invalid_items_fail_without_a_request(
    client: AsyncClient, emulator: Emulator
) -> None:
    """Invalid items become Failed, naming the item and the bad value, and send nothing."""
    uid = await session_uid(client)
    items: list[object] = [(uid, None), (uid,), "text", BulkItem(uid, "k", key=""), (uid, "ok")]
    outcomes = await collect(client.send_many(items, ordered=True))  # type: ignore[arg-type]
    errors = [str(o.error) for o in outcomes if isinstance(o, Failed)]
    assert errors == [
        "item 0: message must be a str, got NoneType: None",
        "item 1 must be a BulkItem or a (session_uid, message[, send_by[, key]]) tuple, got "
        f"tuple: ('{uid}',)",
        "item 2 must be a BulkItem or a (session_uid, message[, send_by[, key]]) tuple, got "
        "str: 'text'",
        "item 3: key must be a non-empty str of at most 256 characters, not starting with '#'; "
        "got ''",
    ]
    assert isinstance(outcomes[4], Sent)
    assert emulator.request_count("sendMessage") == 1


async def test_default_keys_follow_position_and_content(client: AsyncClient) -> None:
    """A generated key is stable for the same item at the same position, and differs otherwise."""
    uid = await session_uid(client)

    async def keys(items: list[tuple[str, str]]) -> list[str]:
        return [o.key for o in await collect(client.send_many(items, ordered=True))]

    first = await keys([(uid, "a"), (uid, "b")])
    assert await keys([(uid, "a"), (uid, "b")]) == first
    changed = await keys([(uid, "a"), (uid, "B")])
    assert changed[0] == first[0]
    assert changed[1] != first[1]
    assert (await keys([(uid, "b")]))[0] != first[1]  # same content, another position


async def test_async_iterable_input(client: AsyncClient, emulator: Emulator) -> None:
    """An async generator is consumed lazily, like a plain iterable."""
    uid = await session_uid(client)

    async def produce() -> AsyncIterator[tuple[str, str]]:
        for i in range(20):
            await asyncio.sleep(0)
            yield uid, f"async {i}"

    outcomes = await collect(client.send_many(produce(), concurrency=4))
    assert sorted(o.index for o in outcomes) == list(range(20))
    assert all(isinstance(o, Sent) for o in outcomes)
    assert len(emulator.ledger) == 20


async def test_plain_async_for_without_a_context_manager(client: AsyncClient) -> None:
    """`async for` straight over send_many runs to the end and closes itself."""
    uid = await session_uid(client)
    run = client.send_many([(uid, f"p{i}") for i in range(5)])
    outcomes = [outcome async for outcome in run]
    assert len(outcomes) == 5
    assert run.summary().finished
    assert not bulk_tasks()


# -- concurrency and order -------------------------------------------------------------------


async def test_completion_order_by_default(client: AsyncClient, emulator: Emulator) -> None:
    """Without ordered, the slow item comes last: the one whose request reached the service
    first (usually item 0, but four sends in flight may arrive in any order), held 0.05 s and
    so stored last."""
    uid = await session_uid(client)
    emulator.fault_plan.add("sendMessage", Fault.latency(0.05))
    outcomes = await collect(client.send_many([(uid, f"o{i}") for i in range(4)], concurrency=4))
    slow = emulator.ledger[-1].message
    assert outcomes[-1].item.message == slow
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3]


async def test_ordered_yields_in_input_order(client: AsyncClient, emulator: Emulator) -> None:
    """With ordered=True outcomes come in input order even when the first item is slowest."""
    uid = await session_uid(client)
    emulator.fault_plan.add("sendMessage", Fault.latency(0.05), None, Fault.latency(0.02))
    items = [(uid, f"o{i}") for i in range(12)] + [(uid, "")]
    outcomes = await collect(client.send_many(items, concurrency=4, ordered=True))
    assert [o.index for o in outcomes] == list(range(13))


@pytest.mark.parametrize("ordered", [False, True])
async def test_at_most_concurrency_items_are_outstanding(
    client: AsyncClient, emulator: Emulator, ordered: bool
) -> None:
    """Items are pulled lazily: never more than `concurrency` taken and not yet handed over."""
    uid = await session_uid(client)
    emulator.fault_plan.add("sendMessage", Fault.latency(0.03))  # a slow head
    source = Counted([BulkItem(uid, f"lazy {i}") for i in range(50)])
    highest = 0
    handed = 0
    async with client.send_many(source, concurrency=5, ordered=ordered) as run:
        async for _ in run:
            handed += 1
            highest = max(highest, source.taken - handed)
            assert run.summary().in_flight <= 5
    assert handed == 50
    assert 1 <= highest <= 5


async def test_concurrency_defaults_to_the_clients(make_client: ClientFactory) -> None:
    """Without concurrency, at most the client's max_concurrency items are in flight."""
    client = make_client(max_concurrency=3)
    uid = await session_uid(client)
    source = Counted([BulkItem(uid, f"d{i}") for i in range(12)])
    highest = 0
    async with client.send_many(source) as run:
        async for _ in run:
            highest = max(highest, run.summary().in_flight)
    assert 1 <= highest <= 3
    assert source.taken == 12


# -- progress, shutdown ----------------------------------------------------------------------


async def test_progress_is_called_and_ends_with_the_final_summary(client: AsyncClient) -> None:
    """progress gets summaries as the run goes, the last one final and equal to summary()."""
    uid = await session_uid(client)
    seen: list[BulkSummary] = []
    run = client.send_many([(uid, f"g{i}") for i in range(6)], progress=seen.append)
    await collect(run)
    assert seen
    assert seen[-1] == run.summary()
    assert seen[-1].finished
    assert seen[-1].sent == 6


async def test_leaving_early_cancels_in_flight_and_leaves_no_task(
    client: AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """Breaking out of `async with` cancels the items in flight and closes the journal."""
    uid = await session_uid(client)
    emulator.fault_plan.add("sendMessage", None, Fault.latency(5), times=4)
    journal = tmp_path / "run.jsonl"
    async with client.send_many(
        [(uid, f"e{i}") for i in range(40)], concurrency=4, journal=journal
    ) as run:
        async for outcome in run:
            assert isinstance(outcome, Sent)
            break
    assert not bulk_tasks()
    summary = run.summary()
    assert summary.finished
    assert summary.in_flight == 0
    assert summary.cancelled >= 1
    assert summary.sent + summary.cancelled <= 5
    lines = journal.read_text().splitlines()
    assert lines[0].startswith('{"journal":"yourgpt-async"')
    assert sum('"s":"start"' in line for line in lines) <= 5


async def test_cancelling_the_consumer_cleans_up(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """Cancelling the task that iterates cancels the items in flight too."""
    client = make_client()
    uid = await session_uid(client)
    emulator.fault_plan.add("sendMessage", Fault.latency(5), times=3)
    run = client.send_many([(uid, f"c{i}") for i in range(3)], concurrency=3)

    async def consume() -> None:
        async with run:
            async for _ in run:
                pass

    task = asyncio.create_task(consume())

    async def all_three_sent() -> None:  # received by the emulator, each held by its fault
        while emulator.fault_plan.pending("sendMessage"):  # noqa: ASYNC110 - polls the emulator
            await asyncio.sleep(0.005)

    await asyncio.wait_for(all_three_sent(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not bulk_tasks()
    assert run.summary().cancelled == 3


async def test_stop_takes_no_new_items_and_finishes_those_in_flight(
    client: AsyncClient, emulator: Emulator
) -> None:
    """After stop(), the items in flight still get their outcomes; no new item is taken."""
    uid = await session_uid(client)
    emulator.fault_plan.add("sendMessage", None, Fault.latency(0.02), Fault.latency(0.02))
    source = Counted([BulkItem(uid, f"s{i}") for i in range(30)])
    outcomes = []
    async with client.send_many(source, concurrency=3) as run:
        async for outcome in run:
            outcomes.append(outcome)
            run.stop()
    assert run.stopping
    assert source.taken == 3
    assert len(outcomes) == 3
    assert all(isinstance(o, Sent) for o in outcomes)
    assert run.summary().cancelled == 0
    assert len(emulator.ledger) == 3


async def test_stop_interrupts_waiting_for_an_async_input(client: AsyncClient) -> None:
    """stop() ends a run that is waiting on a slow async input."""
    uid = await session_uid(client)
    never = asyncio.Event()

    async def produce() -> AsyncIterator[tuple[str, str]]:
        yield uid, "first"
        await never.wait()
        yield uid, "never"  # pragma: no cover

    outcomes = []
    async with client.send_many(produce()) as run:
        async for outcome in run:
            outcomes.append(outcome)
            asyncio.get_running_loop().call_later(0.01, run.stop)
    assert [o.item.message for o in outcomes] == ["first"]
    assert not bulk_tasks()


async def test_an_input_that_raises_ends_the_run_with_its_error(client: AsyncClient) -> None:
    """An exception from the caller's iterator surfaces, with nothing left running."""
    uid = await session_uid(client)

    def produce() -> Iterator[tuple[str, str]]:
        yield uid, "one"
        raise ValueError("input broke")

    with pytest.raises(ValueError, match="input broke"):
        await collect(client.send_many(produce()))
    assert not bulk_tasks()


# -- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"items": 5}, "items must be an iterable or async iterable"),
        ({"items": "text"}, "items must be an iterable or async iterable"),
        ({"concurrency": 0}, "concurrency must be an int of at least 1, got 0"),
        ({"ordered": "yes"}, "ordered must be True or False, got 'yes'"),
        ({"journal": 3}, "journal must be a path"),
        ({"progress": "bar"}, "progress must be a callable"),
        ({"resend_in_doubt": 1}, "resend_in_doubt must be True or False, got 1"),
    ],
)
def test_bad_arguments_are_refused_at_once(
    make_client: ClientFactory, kwargs: dict[str, object], message: str
) -> None:
    """A bad argument raises ConfigurationError naming it, before anything runs."""
    client = make_client()
    arguments: dict[str, object] = {"items": [], **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        client.send_many(**arguments)  # type: ignore[arg-type]


def test_send_many_needs_a_widget(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a widget_uid every item would fail; send_many says so at once."""
    monkeypatch.delenv("YOURGPT_WIDGET_UID", raising=False)
    client = make_client(widget_uid=None)
    with pytest.raises(ConfigurationError, match="widget_uid"):
        client.send_many([])


# -- keys --------------------------------------------------------------------------------------


async def test_duplicate_keys_in_a_list_are_refused_before_anything_is_sent(
    client: AsyncClient, emulator: Emulator
) -> None:
    """Two items of a list with one key: send_many raises naming both, and sends nothing."""
    uid = await session_uid(client)
    items = [BulkItem(uid, "a", key="k1"), BulkItem(uid, "b", key="k2"), (uid, "c", "user", "k1")]
    with pytest.raises(ConfigurationError, match=r"items 0 and 2 have the same key 'k1'"):
        client.send_many(items)
    assert emulator.request_count("sendMessage") == 0


async def test_a_duplicate_key_in_a_lazy_input_fails_that_item(
    client: AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """In a generator, the second item with a key fails (not sent, not skipped silently), the
    others are sent; a resume skips the first as sent and fails the second again."""
    uid = await session_uid(client)

    def items() -> Iterator[BulkItem]:
        yield from (BulkItem(uid, text, key=key) for text, key in [("a", "k1"), ("b", "k2")])
        yield BulkItem(uid, "c", key="k1")

    journal = tmp_path / "run.jsonl"
    first = await collect(client.send_many(items(), journal=journal, ordered=True))
    assert [type(o).__name__ for o in first] == ["Sent", "Sent", "Failed"]
    assert isinstance(first[2], Failed)
    assert "key 'k1' is an earlier item's too" in str(first[2].error)
    assert emulator.delivered("c") == 0
    again = await collect(client.send_many(items(), journal=journal))
    assert [(type(o).__name__, o.index) for o in again] == [("Failed", 2)]
    assert emulator.delivered("a") == emulator.delivered("b") == 1

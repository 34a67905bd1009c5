"""send_message with RetryPolicy(reconcile=True), over real HTTP: against the emulator's faults
(drop before or after storing, 500 after storing, a slow store, a failing read-back) and against
small hostile servers that date their messages as they please or ignore the order asked for."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _fakes import ClientFactory, FakeClock
from aiohttp import web

from yourgpt_async import (
    AsyncClient,
    BadRequestError,
    DeliveryUnknownError,
    RateLimit,
    RetryPolicy,
    SendBy,
    ServerError,
)
from yourgpt_async._endpoints import Family
from yourgpt_async._readback import track
from yourgpt_async._reconcile import FindBy
from yourgpt_async.testing import Emulator, Fault
from yourgpt_async.types import Page

TEXT = "Cancel order 1042"


def reconciling(fake: FakeClock, **overrides: Any) -> RetryPolicy:
    return RetryPolicy(reconcile=True, sleep=fake.sleep, clock=fake.clock, **overrides)


@pytest.fixture
def reconciled(make_client: ClientFactory, fake_clock: FakeClock) -> AsyncClient:
    """A client bound to the emulator whose policy reconciles, on the fake clock."""
    return make_client(retry=reconciling(fake_clock))


async def new_session(client: AsyncClient) -> str:
    return (await client.create_session()).session_uid


def requests(emulator: Emulator) -> tuple[int, int]:
    """(sendMessage requests, getSessionMessages requests) so far."""
    return emulator.request_count("sendMessage"), emulator.request_count("getSessionMessages")


# -- the three outcomes on the emulator ------------------------------------------------------


async def test_nothing_extra_when_the_send_succeeds(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """A send that succeeds costs no read-back."""
    uid = await new_session(reconciled)
    reply = await reconciled.send_message(uid, TEXT)
    assert reply.message == f"You said: {TEXT}"
    assert requests(emulator) == (1, 0)


@pytest.mark.parametrize(
    "fault",
    [Fault.drop_after(), Fault.status_after(500), Fault.status_after(504), Fault.truncated()],
    ids=["drop-after", "500-after", "504-after", "truncated"],
)
async def test_stored_then_failed_is_found_delivered(
    reconciled: AsyncClient, emulator: Emulator, fake_clock: FakeClock, fault: Fault
) -> None:
    """Stored, then the answer was lost: one read-back finds it; the AI's reply stored after it
    is returned; nothing is resent and nobody waits."""
    uid = await new_session(reconciled)
    emulator.fault_plan.add("sendMessage", fault)
    reply = await reconciled.send_message(uid, TEXT)
    assert reply.send_by == SendBy.ASSISTANT
    assert reply.message == f"You said: {TEXT}"
    assert reply.session_uid == uid
    assert emulator.delivered(TEXT) == 1
    assert requests(emulator) == (1, 1)
    assert all(wait < 1 for wait in fake_clock.sleeps)  # pacing only: no settle wait


@pytest.mark.parametrize(
    "fault",
    [Fault.drop_before(), Fault.status(500), Fault.status(502), Fault.html(502)],
    ids=["drop-before", "500", "502", "html-502"],
)
async def test_not_stored_is_sent_again_after_the_settle_time(
    reconciled: AsyncClient, emulator: Emulator, fake_clock: FakeClock, fault: Fault
) -> None:
    """Not stored: looked for at once, again after `settle` seconds, then sent again."""
    uid = await new_session(reconciled)
    emulator.fault_plan.add("sendMessage", fault)
    reply = await reconciled.send_message(uid, TEXT)
    assert reply.message == f"You said: {TEXT}"
    assert emulator.delivered(TEXT) == 1
    assert requests(emulator) == (2, 2)
    assert max(fake_clock.sleeps) == pytest.approx(5.0, abs=0.1)


async def test_an_operator_message_found_is_returned_as_stored(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """An operator send has no AI reply: the stored message itself comes back."""
    uid = await new_session(reconciled)
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    reply = await reconciled.send_message(uid, "Dana here", send_by=SendBy.OPERATOR)
    assert (reply.send_by, reply.message) == (SendBy.OPERATOR, "Dana here")
    assert reply.id == emulator.ledger[-1].message_id


async def test_a_user_message_without_an_ai_reply_yet_comes_back_itself(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """While an operator holds the session the AI stays silent: the user's own stored message
    is returned, and send_by says so."""
    uid = await new_session(reconciled)
    await reconciled.send_message(uid, "Dana here", send_by=SendBy.OPERATOR)
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    reply = await reconciled.send_message(uid, TEXT)
    assert (reply.send_by, reply.message) == (SendBy.USER, TEXT)


async def test_a_per_call_policy_turns_it_on(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """reconcile on one call's policy works like the client's; without it, the old error."""
    client = make_client()
    uid = await new_session(client)
    emulator.fault_plan.add("sendMessage", Fault.drop_after(), Fault.drop_after())
    with pytest.raises(DeliveryUnknownError):
        await client.send_message(uid, "first")
    reply = await client.send_message(uid, "second", retry=reconciling(fake_clock))
    assert reply.message == "You said: second"
    assert (emulator.delivered("first"), emulator.delivered("second")) == (1, 1)


# -- the slow store: within the settle time, and the one duplicate past it --------------------


async def test_a_store_within_the_settle_time_is_found(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """The service stores the message 50 ms after dropping the connection: the look after the
    settle wait finds it, and it is not sent again."""

    async def sleep(seconds: float) -> None:
        await fake_clock.sleep(seconds)
        if seconds >= 1:  # the settle wait: let real time pass for the late store
            await asyncio.sleep(0.2)

    client = make_client(retry=RetryPolicy(reconcile=True, sleep=sleep, clock=fake_clock.clock))
    uid = await new_session(client)
    emulator.fault_plan.add("sendMessage", Fault.slow_store(0.05))
    reply = await client.send_message(uid, TEXT)
    assert reply.message == f"You said: {TEXT}"
    assert emulator.delivered(TEXT) == 1
    assert requests(emulator) == (1, 2)


async def test_a_store_later_than_the_settle_time_is_delivered_twice(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """The documented limit: a service that stores a request after the settle time has passed
    gets it twice, since by then its absence counted as "not delivered"."""
    uid = await new_session(reconciled)
    emulator.fault_plan.add("sendMessage", Fault.slow_store(0.1))
    await reconciled.send_message(uid, TEXT)  # the settle wait passes on the fake clock
    assert emulator.delivered(TEXT) == 1
    await asyncio.sleep(0.2)
    assert emulator.delivered(TEXT) == 2


# -- undecidable: DeliveryUnknownError, never a guess ---------------------------------------


async def test_a_read_back_that_fails_leaves_it_in_doubt(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """The read-back is refused (after its own retries): DeliveryUnknownError saying why, and
    the message is not resent."""
    uid = await new_session(reconciled)
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    emulator.fault_plan.add("getSessionMessages", Fault.status(500), times=4)
    with pytest.raises(DeliveryUnknownError, match="the read-back failed") as caught:
        await reconciled.send_message(uid, TEXT)
    assert "HTTP 500" in str(caught.value)
    assert caught.value.attempts == 1
    assert emulator.delivered(TEXT) == 1
    assert requests(emulator) == (1, 4)


async def test_a_read_back_refused_at_once_leaves_it_in_doubt(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """A refusal (not retried) is as undecidable, and costs one request."""
    uid = await new_session(reconciled)
    emulator.fault_plan.add("sendMessage", Fault.drop_before())
    emulator.fault_plan.add("getSessionMessages", Fault.rxerror("Session not found"))
    with pytest.raises(DeliveryUnknownError, match="Session not found"):
        await reconciled.send_message(uid, TEXT)
    assert emulator.delivered(TEXT) == 0
    assert requests(emulator) == (1, 1)


async def test_an_identical_send_of_this_client_is_never_taken_for_it(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """The session already holds "yes" from this client a moment ago; a second "yes" is lost
    before storing: the one "yes" found is the first, so the second is undecidable, not
    delivered; and had it been stored, two would be found."""
    uid = await new_session(reconciled)
    await reconciled.send_message(uid, "yes")
    emulator.fault_plan.add("sendMessage", Fault.drop_before())
    with pytest.raises(DeliveryUnknownError, match="overlapped"):
        await reconciled.send_message(uid, "yes")
    assert emulator.delivered("yes") == 1
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    with pytest.raises(DeliveryUnknownError, match="2 messages like it"):
        await reconciled.send_message(uid, "yes")
    assert emulator.delivered("yes") == 2


async def test_concurrent_identical_sends_are_not_settled_on_each_others_message(
    reconciled: AsyncClient, emulator: Emulator
) -> None:
    """Two "ok" at once, one stored and one not: neither may claim the one stored."""
    uid = await new_session(reconciled)
    emulator.fault_plan.add("sendMessage", Fault.drop_after(), Fault.drop_before())
    results = await asyncio.gather(
        reconciled.send_message(uid, "ok"),
        reconciled.send_message(uid, "ok"),
        return_exceptions=True,
    )
    assert emulator.delivered("ok") == 1
    assert all(isinstance(result, DeliveryUnknownError) for result in results)


async def test_a_deadline_shorter_than_the_settle_time(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """No time to let the service settle: a missing message stays in doubt."""
    client = make_client(retry=reconciling(fake_clock, deadline=3, settle=5))
    uid = await new_session(client)
    emulator.fault_plan.add("sendMessage", Fault.drop_before())
    with pytest.raises(DeliveryUnknownError, match="deadline ends before"):
        await client.send_message(uid, TEXT)
    assert emulator.delivered(TEXT) == 0


# -- not delivered, with nothing left to resend with -----------------------------------------


async def test_not_delivered_and_out_of_attempts_says_so(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """Every attempt lost before storing: the last attempt's own error (not DeliveryUnknown),
    saying the read-back showed it was not delivered, with every attempt counted."""
    client = make_client(retry=reconciling(fake_clock, attempts=2))
    uid = await new_session(client)
    emulator.fault_plan.add("sendMessage", Fault.drop_before(), Fault.status(500))
    with pytest.raises(ServerError, match="not delivered") as caught:
        await client.send_message(uid, TEXT)
    assert not isinstance(caught.value, DeliveryUnknownError)
    assert caught.value.attempts == 2
    assert emulator.delivered(TEXT) == 0


async def test_errors_after_a_resend_count_every_attempt(
    make_client: ClientFactory, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """A refusal after a settled resend carries the attempts of the whole call."""
    client = make_client(retry=reconciling(fake_clock))
    uid = await new_session(client)
    emulator.fault_plan.add("sendMessage", Fault.drop_before(), Fault.status(400))
    with pytest.raises(BadRequestError) as caught:
        await client.send_message(uid, TEXT)
    assert caught.value.status == 400
    assert caught.value.attempts == 2
    assert emulator.delivered(TEXT) == 0


# -- hostile servers: the service's clock and order ------------------------------------------


class Service:
    """A small service keeping one session's record, with scripted sendMessage faults, a clock
    of its own (``skew`` seconds off), and optionally an order it ignores."""

    def __init__(self, *, skew: float = 0.0, ascending: bool = False) -> None:
        self.skew = skew
        self.ascending = ascending
        self.messages: list[dict[str, Any]] = []
        self.script: list[str] = []
        self.next_id = 500
        self.sends = 0

    def store(self, text: str, *, send_by: str = "user", age: float = 0.0) -> None:
        moment = datetime.now(timezone.utc) + timedelta(seconds=self.skew - age)
        stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.messages.append(
            {"id": self.next_id, "send_by": send_by, "message": text, "createdAt": stamp}
        )
        self.next_id += 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        if request.path.endswith("/sendMessage"):
            self.sends += 1
            action = self.script.pop(0) if self.script else "ok"
            if action in ("ok", "store-drop"):
                self.store(body["message"], send_by=body["send_by"])
            if action in ("store-drop", "drop"):
                assert request.transport is not None
                request.transport.close()
            data = {"id": self.next_id - 1, "message": body["message"], "send_by": "user"}
            return web.json_response({"type": "RXSUCCESS", "message": "ok", "data": data})
        listed = self.messages if self.ascending else list(reversed(self.messages))
        page, limit = int(body.get("page", 1)), int(body.get("limit", 10))
        items = listed[(page - 1) * limit : page * limit]
        return web.json_response(
            {"type": "RXSUCCESS", "message": "ok", "total": len(listed), "data": items}
        )


@contextlib.asynccontextmanager
async def serving(service: Service, fake: FakeClock) -> AsyncIterator[AsyncClient]:
    app = web.Application()
    app.router.add_route("POST", "/chatbot/v1/{name}", service.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with AsyncClient(
            "apk-test",
            widget_uid="widget-1",
            base_url=f"http://{host}:{port}/chatbot/v1",
            retry=reconciling(fake),
            rate_limit=RateLimit.unlimited(),
        ) as client:
            yield client
    finally:
        await runner.cleanup()


def stored(service: Service, text: str) -> int:
    return sum(1 for message in service.messages if message["message"] == text)


async def test_an_identical_message_from_half_a_minute_ago(fake_clock: FakeClock) -> None:
    """The session holds the same text from 30 s ago (another visitor, another process): lost
    before storing, the send is in doubt rather than taken for that one; stored, two are
    found, and it is in doubt too. Never resent."""
    service = Service()
    async with serving(service, fake_clock) as client:
        service.store(TEXT, age=30)
        service.script = ["drop"]
        with pytest.raises(DeliveryUnknownError, match="before this call began"):
            await client.send_message("7", TEXT)
        assert stored(service, TEXT) == 1
        service.script = ["store-drop"]
        with pytest.raises(DeliveryUnknownError, match="2 messages like it"):
            await client.send_message("7", TEXT)
        assert stored(service, TEXT) == 2


async def test_an_identical_message_from_long_ago_does_not_matter(fake_clock: FakeClock) -> None:
    """The same text from ten minutes ago is outside the window: both outcomes are settled."""
    for script, sends in (("store-drop", 1), ("drop", 2)):
        service = Service()
        async with serving(service, fake_clock) as client:
            service.store(TEXT, age=600)
            service.script = [script]
            reply = await client.send_message("7", TEXT)
            assert reply.message == TEXT
            assert stored(service, TEXT) == 2  # the old one, and this send once
            assert service.sends == sends  # resent only when it was not stored


async def test_a_service_clock_behind_ours_is_not_a_duplicate(fake_clock: FakeClock) -> None:
    """The service's clock runs 20 s behind: the message it stored is stamped "before" the
    call began, so it cannot be claimed, but it is not resent either."""
    service = Service(skew=-20)
    async with serving(service, fake_clock) as client:
        service.script = ["store-drop"]
        with pytest.raises(DeliveryUnknownError):
            await client.send_message("7", TEXT)
        assert stored(service, TEXT) == 1


async def test_a_service_clock_a_little_off_is_settled(fake_clock: FakeClock) -> None:
    """Half a second either way is within the window: settled."""
    for skew in (-0.5, 0.5):
        service = Service(skew=skew)
        async with serving(service, fake_clock) as client:
            service.script = ["store-drop"]
            await client.send_message("7", TEXT)
            assert stored(service, TEXT) == 1


async def test_a_service_that_ignores_the_order_is_never_trusted(fake_clock: FakeClock) -> None:
    """Asked for the newest first, it lists the oldest first: its first page shows nothing of
    the present, so nothing is settled on it (no resend, no claim)."""
    service = Service(ascending=True)
    async with serving(service, fake_clock) as client:
        for n in range(60):
            service.store(f"old {n}", age=900 - n)
        service.script = ["drop"]
        with pytest.raises(DeliveryUnknownError, match="newest first"):
            await client.send_message("7", TEXT)
        assert stored(service, TEXT) == 0


def test_the_new_faults_from_plain_data() -> None:
    """A fault plan file can name the new faults, with their options and defaults."""
    from yourgpt_async.testing import FaultPlan

    plan = FaultPlan.from_dict(
        {
            "sendMessage": [
                {"kind": "status_after"},
                {"kind": "status_after", "status": 502, "message": "Bad gateway"},
                {"kind": "slow_store", "seconds": 0.5},
            ]
        }
    )
    assert plan.next_fault("sendMessage") == Fault.status_after(500)
    assert plan.next_fault("sendMessage") == Fault.status_after(502, message="Bad gateway")
    assert plan.next_fault("sendMessage") == Fault.slow_store(0.5)
    with pytest.raises(ValueError, match="unexpected keys"):
        FaultPlan.from_dict({"sendMessage": [{"kind": "slow_store", "status": 500}]})
    with pytest.raises(ValueError, match="seconds"):
        Fault.slow_store(-1)


# -- FindBy, the Platform API's creates, against a list it reads back ------------------------


@dataclasses.dataclass(frozen=True)
class Made:
    """A created item as a list shows it: an id, a name and when it was made."""

    id: int
    name: str
    created_at: datetime = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc))


class Shelf:
    """A list endpoint's store, newest first, read a page at a time through ``page``; ``tick``
    seconds pass on ``fake`` per page read, and ``after_page`` runs after each read."""

    def __init__(self, fake: FakeClock, *, tick: float = 0.0) -> None:
        self.fake = fake
        self.tick = tick
        self.items: list[Made] = []
        self.next_id = 1
        self.reads = 0
        self.after_page: Callable[[int], None] = lambda number: None

    def add(self, name: str) -> Made:
        item = Made(self.next_id, name)
        self.next_id += 1
        self.items.insert(0, item)
        return item

    @property
    def family(self) -> Family:
        return Family.PLATFORM

    async def call(self, endpoint: Any, payload: Any, retry: RetryPolicy) -> Any:
        raise AssertionError("FindBy only lists")

    async def page(
        self, endpoint: Any, query: Any, *, page: int, limit: int, retry: RetryPolicy
    ) -> Page[Made]:
        self.reads += 1
        self.fake.advance(self.tick)
        items = tuple(self.items[(page - 1) * limit : page * limit])
        self.after_page(page)
        return Page(items=items, page=page, limit=limit, total=len(self.items))


def finding() -> FindBy[Made]:
    lister: Any = None  # Shelf reads its own store whatever endpoint it is asked for
    return FindBy(
        lister,
        query=lambda payload: {"search": payload["name"]},
        same=lambda item, payload: item.name == payload["name"],
    )


def lost_then_made(
    shelf: Shelf, *, stored: bool, newer: int = 0
) -> Callable[[RetryPolicy], Awaitable[Made]]:
    """A create whose first attempt is lost (after storing the item, and ``newer`` items by
    others after it, if ``stored``), and whose next one makes it."""
    sends: list[int] = []

    async def send(budget: RetryPolicy) -> Made:
        sends.append(1)
        if len(sends) == 1:
            if stored:
                shelf.add("churn-risk")
                for n in range(newer):
                    shelf.add(f"other {n}")
            error = DeliveryUnknownError(
                "createContactTag: the request was sent but no answer came back; look for it",
                endpoint="createContactTag",
            )
            error.attempts = 1
            raise error
        return shelf.add("churn-risk")

    return send


async def test_find_by_sleeps_no_settle_wait_once_the_settle_time_has_passed(
    fake_clock: FakeClock,
) -> None:
    """The first look takes longer than ``settle``: the service has had its time already, so
    there is nothing to wait for; no wait (of 0 or less) is slept, nor told to the bulk
    engine's on-wait hook, before the second look and the resend."""
    shelf = Shelf(fake_clock, tick=2.0)
    waits: list[bool] = []
    track(waits.append)
    send = lost_then_made(shelf, stored=False)
    made = await finding()(send, shelf, {"name": "churn-risk"}, reconciling(fake_clock, settle=1))
    assert made.name == "churn-risk"
    assert shelf.reads == 2
    assert waits == []
    assert fake_clock.sleeps == []


async def test_find_by_counts_an_item_read_on_two_pages_once(fake_clock: FakeClock) -> None:
    """An item stored between the reads of page 1 and page 2 shifts the pages by one: the last
    item of page 1 (the one made) is read again first on page 2, and is one item made, found
    delivered, not "2 like it"."""
    shelf = Shelf(fake_clock)
    shelf.add("older")

    def meanwhile(number: int) -> None:
        if number == 1:
            shelf.add("meanwhile")

    shelf.after_page = meanwhile
    send = lost_then_made(shelf, stored=True, newer=99)  # the one made ends page 1
    made = await finding()(send, shelf, {"name": "churn-risk"}, reconciling(fake_clock, settle=0))
    assert (made.name, made.id) == ("churn-risk", 2)
    assert shelf.reads == 2

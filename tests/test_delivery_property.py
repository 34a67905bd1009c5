"""Properties of the retry policy: sendMessage is never silently duplicated, and with
``reconcile=True`` every send that returns was delivered exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from _fakes import FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yourgpt_async import AsyncClient, DeliveryUnknownError, RateLimit, RetryPolicy, YourGPTError
from yourgpt_async.testing import Emulator, Fault

# Sent with no usable answer: a dropped connection, a 5xx, or a 200 that cannot be read.
AMBIGUOUS = {"drop_before", "drop_after", "500", "502", "504", "html", "truncated", "empty"}

FAULTS: dict[str, Fault | None] = {
    "ok": None,
    "429": Fault.status(429, retry_after=1),
    "503": Fault.status(503),
    "500": Fault.status(500),
    "502": Fault.status(502),
    "504": Fault.status(504),
    "html": Fault.html(502),
    "drop_before": Fault.drop_before(),
    "drop_after": Fault.drop_after(),
    "truncated": Fault.truncated(),
    "empty": Fault.empty(),
    "rxerror": Fault.rxerror(),
    "400": Fault.status(400),
}


async def send_through(
    names: Sequence[str], *, read_faults: Sequence[str] = (), reconcile: bool = False
) -> tuple[object, int, int]:
    """Send one message through the planned faults; return (result or error, stored, requests).

    ``read_faults`` go to getSessionMessages, which reconciling reads the session back with.
    """
    fake = FakeClock()
    async with Emulator() as emulator:
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=RetryPolicy(reconcile=reconcile, sleep=fake.sleep, clock=fake.clock),
            rate_limit=RateLimit(clock=fake.clock, sleep=fake.sleep),
        )
        async with client:
            uid = (await client.create_session()).session_uid
            if names:
                emulator.fault_plan.add("sendMessage", *(FAULTS[name] for name in names))
            if read_faults:
                emulator.fault_plan.add(
                    "getSessionMessages", *(FAULTS[name] for name in read_faults)
                )
            outcome: object
            try:
                outcome = await client.send_message(uid, "the one message")
            except YourGPTError as error:
                outcome = error
        return outcome, emulator.delivered("the one message"), emulator.request_count("sendMessage")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(FAULTS)), max_size=5))
def test_send_message_is_delivered_at_most_once(names: list[str]) -> None:
    """A returned send was stored once; a raised one at most once, DeliveryUnknown iff unsure."""
    outcome, stored, requests = asyncio.run(send_through(names))
    if not isinstance(outcome, YourGPTError):
        assert stored == 1
        return
    assert stored <= 1
    last_fault = names[requests - 1] if requests <= len(names) else "ok"
    assert isinstance(outcome, DeliveryUnknownError) == (last_fault in AMBIGUOUS)
    assert outcome.attempts == requests


# What a read-back may meet; a failing read-back leaves the send undecided, never guessed.
READ_FAULTS = ["ok", "ok", "429", "500", "503", "drop_before", "html", "rxerror", "400"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(sorted(FAULTS)), max_size=6),
    st.lists(st.sampled_from(READ_FAULTS), max_size=4),
)
def test_reconciled_send_message_is_delivered_exactly_once(
    names: list[str], read_faults: list[str]
) -> None:
    """With reconcile=True: a send that returns was stored exactly once; one that raises
    anything but DeliveryUnknownError was not stored at all; nothing is ever stored twice; and
    DeliveryUnknownError comes only from a read-back that failed."""
    outcome, stored, _ = asyncio.run(send_through(names, read_faults=read_faults, reconcile=True))
    assert stored <= 1
    if not isinstance(outcome, YourGPTError):
        assert stored == 1
    elif isinstance(outcome, DeliveryUnknownError):
        assert any(name != "ok" for name in read_faults)
    else:
        assert stored == 0

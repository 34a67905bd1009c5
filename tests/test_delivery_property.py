"""A property of the default retry policy: sendMessage is never silently duplicated."""

from __future__ import annotations

import asyncio

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


async def send_through(names: list[str]) -> tuple[object, int, int]:
    """Send one message through the planned faults; return (result or error, stored, requests)."""
    fake = FakeClock()
    async with Emulator() as emulator:
        client = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=RetryPolicy(sleep=fake.sleep, clock=fake.clock),
            rate_limit=RateLimit(clock=fake.clock, sleep=fake.sleep),
        )
        async with client:
            uid = (await client.create_session()).session_uid
            if names:
                emulator.fault_plan.add("sendMessage", *(FAULTS[name] for name in names))
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

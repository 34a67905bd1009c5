"""project.playground over real loopback HTTP: sessions and answers against the emulator (credits
spent by model, the quota when they run out, validation before any request, never resent after a
lost reply), and the exact wire format against a small server of the test's own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _fakes import FakeClock, PlatformFactory
from _recording_server import TOKEN, RecordingServer, platform_client

from yourgpt_async import (
    AsyncPlatformClient,
    BadRequestError,
    ConfigurationError,
    DeliveryUnknownError,
    NotFoundError,
    PermissionDeniedError,
    PlaygroundReply,
    PlaygroundSession,
    QuotaExceededError,
    RateLimit,
    RetryPolicy,
)
from yourgpt_async.platform import ProjectView
from yourgpt_async.testing import Emulator, Fault, Token

QUERY = "What is your return policy?"


@pytest.fixture
def yp(make_platform: PlatformFactory) -> AsyncPlatformClient:
    """A platform client with the emulator's owner token, retrying on the fake clock and
    pacing nothing."""
    return make_platform(rate_limit=RateLimit.unlimited())


@pytest.fixture
def bot(yp: AsyncPlatformClient, emulator: Emulator) -> ProjectView:
    """The view of the emulator's first project."""
    return yp.project(emulator.project_uid)


async def new_session(bot: ProjectView) -> str:
    return (await bot.playground.create_session()).session_uid


async def test_create_session_gives_the_exact_17_digit_uid(
    bot: ProjectView, emulator: Emulator
) -> None:
    """The emulator sends session_uid as a bare number above 2**53; it arrives exact, as str,
    and the session is in the writes ledger."""
    session = await bot.playground.create_session()
    assert isinstance(session, PlaygroundSession)
    assert session.session_uid == "17226099990000001"
    assert session.raw["session_uid"] == 17226099990000001
    assert session.is_emulator is True
    assert emulator.written("createPlaygroundAgentSession", session_uid=session.session_uid) == 1


async def test_respond_answers_and_spends_credits_by_model(
    bot: ProjectView, emulator: Emulator
) -> None:
    """An answer spends the project's model's credits (1 for gpt-4o-mini) and an overriding
    agent_setting's model its own (5 for gpt-4o); each answer is one write."""
    emulator.limits.credits = 10
    uid = await new_session(bot)
    reply = await bot.playground.respond(uid, QUERY)
    assert isinstance(reply, PlaygroundReply)
    assert (reply.session_uid, reply.message, reply.total_credits) == (
        uid, f"You asked: {QUERY}", 1.0,
    )  # fmt: skip
    assert reply.response_time is not None
    assert reply.response_time > 0
    dearer = await bot.playground.respond(
        uid, QUERY, agent_setting={"model": "gpt-4o", "temperature": 0.2}
    )
    assert dearer.total_credits == 5.0
    assert emulator.limits.credits == 4
    assert emulator.written("playgroundAgentResponse", session_uid=uid) == 2


async def test_spent_credits_are_a_quota_error_sent_once(
    bot: ProjectView, emulator: Emulator
) -> None:
    """With fewer credits left than an answer costs, respond is QuotaExceededError with the
    service's text, not retried, and nothing is spent."""
    uid = await new_session(bot)
    emulator.limits.credits = 4
    with pytest.raises(QuotaExceededError, match="You have already reached the limit") as caught:
        await bot.playground.respond(uid, QUERY, agent_setting={"model": "gpt-4o"})
    assert caught.value.attempts == 1
    assert emulator.limits.credits == 4
    assert emulator.written("playgroundAgentResponse") == 0


async def test_an_unknown_model_is_invalid_params(bot: ProjectView, emulator: Emulator) -> None:
    """An agent_setting model the service does not offer is BadRequestError naming the field."""
    uid = await new_session(bot)
    with pytest.raises(BadRequestError, match="model is not supported") as caught:
        await bot.playground.respond(uid, QUERY, agent_setting={"model": "gpt-99"})
    assert caught.value.errors == {"agent_setting": "model is not supported"}


async def test_a_session_of_another_project_is_not_found(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """respond in a session the project did not create (or no session at all) is Not found."""
    projects = [record.project_uid for record in emulator.projects]
    uid = await new_session(yp.project(projects[0]))
    with pytest.raises(NotFoundError, match="Not found"):
        await yp.project(projects[1]).playground.respond(uid, QUERY)
    with pytest.raises(NotFoundError):
        await yp.project(projects[0]).playground.respond("12345", QUERY)


async def test_a_token_outside_the_project_is_refused(emulator: Emulator) -> None:
    """A token scoped to other projects cannot open a playground session in this one."""
    emulator.tokens["api-v1-scoped"] = Token("api-v1-scoped", projects=frozenset())
    async with AsyncPlatformClient(
        "api-v1-scoped", base_url=emulator.base_url, rate_limit=RateLimit.unlimited()
    ) as scoped:
        with pytest.raises(PermissionDeniedError):
            await scoped.project(emulator.project_uid).playground.create_session()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"query": ""}, "query must be a non-blank str"),
        ({"query": "x" * 5001}, "query must be at most 5,000 characters, got 5,001"),
        ({"session_uid": None}, "session_uid must be a str, got None"),
        ({"agent_setting": {"model": object()}}, "agent_setting cannot be sent as JSON"),
        ({"agent_setting": "gpt-4o"}, "agent_setting must be a mapping with str keys"),
        ({"previous_chat": "hi"}, "previous_chat must be a list of earlier turns"),
        ({"previous_chat": [{"role": "user"}] * 51}, "at most 50 earlier turns, got 51"),
        ({"previous_chat": [{"role": "user"}, "hi"]}, r"previous_chat\[1\] must be a mapping"),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    bot: ProjectView, emulator: Emulator, arguments: dict[str, Any], message: str
) -> None:
    """Each bad argument of respond is a ConfigurationError naming it; nothing is sent."""
    call: dict[str, Any] = {"session_uid": "17226099990000001", "query": QUERY, **arguments}
    with pytest.raises(ConfigurationError, match=message):
        await bot.playground.respond(call.pop("session_uid"), call.pop("query"), **call)
    assert emulator.request_count() == 0


async def test_fifty_earlier_turns_are_accepted(bot: ProjectView) -> None:
    """previous_chat may hold exactly 50 turns."""
    uid = await new_session(bot)
    turns = [{"role": "user", "content": f"turn {n}"} for n in range(50)]
    assert (await bot.playground.respond(uid, QUERY, previous_chat=turns)).message


@pytest.mark.parametrize("reconcile", [False, True])
async def test_a_lost_answer_is_never_asked_again(
    yp: AsyncPlatformClient, emulator: Emulator, fake_clock: FakeClock, reconcile: bool
) -> None:
    """An answer whose reply was lost is DeliveryUnknownError after one request, reconcile or
    not (it cannot be read back), and its credits were spent once."""
    bot = yp.project(emulator.project_uid)
    uid = await new_session(bot)
    emulator.limits.credits = 10
    emulator.fault_plan.add("playgroundAgentResponse", Fault.drop_after())
    retry = RetryPolicy(reconcile=reconcile, sleep=fake_clock.sleep, clock=fake_clock.clock)
    with pytest.raises(DeliveryUnknownError, match="credits") as caught:
        await bot.playground.respond(uid, QUERY, retry=retry)
    assert "reconcile=True" not in str(caught.value)
    assert emulator.request_count("playgroundAgentResponse") == 1
    assert emulator.limits.credits == 9


# -- the wire format ------------------------------------------------------------------------------


async def test_respond_sends_exactly_its_fields_with_the_bearer_token() -> None:
    """respond posts JSON to /chatbot/v1/playgroundAgentResponse with the Bearer token, no
    api-key, and the project_uid, session_uid, query, agent_setting and previous_chat given."""
    server = RecordingServer()
    server.replies["playgroundAgentResponse"] = {
        "type": "RXSUCCESS",
        "message": "Response generated successfully",
        "data": json.loads('{"session_uid": 17226099990000001, "message": "30 days.", '
                           '"response_time": 1843, "total_credits": 2}'),
    }  # fmt: skip
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    async with platform_client(server) as client:
        reply = await client.project("p-1").playground.respond(
            "17226099990000001", QUERY, agent_setting={"model": "gpt-4o"}, previous_chat=turns
        )
    [seen] = server.seen
    assert seen.path == "/chatbot/v1/playgroundAgentResponse"
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in {name.lower() for name in seen.headers}
    assert seen.body == {
        "project_uid": "p-1",
        "session_uid": "17226099990000001",
        "query": QUERY,
        "agent_setting": {"model": "gpt-4o"},
        "previous_chat": turns,
    }
    assert (reply.session_uid, reply.message, reply.response_time, reply.total_credits) == (
        "17226099990000001", "30 days.", 1843, 2.0,
    )  # fmt: skip


async def test_create_session_sends_only_the_project() -> None:
    """createPlaygroundAgentSession's body is the project_uid alone; a string uid in the reply
    decodes as a number's would."""
    server = RecordingServer()
    server.replies["createPlaygroundAgentSession"] = {
        "type": "RXSUCCESS",
        "message": "Session created successfully",
        "data": {"session_uid": "17226099990000001", "id": 1, "project_id": 2},
    }
    async with platform_client(server) as client:
        session = await client.project("p-1").playground.create_session()
    assert [seen.body for seen in server.seen] == [{"project_uid": "p-1"}]
    assert server.seen[0].path == "/chatbot/v1/createPlaygroundAgentSession"
    assert (session.session_uid, session.is_emulator) == ("17226099990000001", None)


@pytest.mark.parametrize(
    "data",
    [None, [], "ok", 17226099990000001],
    ids=["null", "list", "text", "number"],
)
async def test_a_reply_without_an_answer_object_is_in_doubt(data: object) -> None:
    """A 200 whose data is not the answer object cannot be read: the answer may have been
    made, so it is DeliveryUnknownError, never a raw exception."""
    server = RecordingServer()
    server.replies["playgroundAgentResponse"] = {"type": "RXSUCCESS", "message": "ok", "data": data}
    async with platform_client(server) as client:
        with pytest.raises(DeliveryUnknownError):
            await client.project("p-1").playground.respond("1", QUERY)
    assert len(server.seen) == 1

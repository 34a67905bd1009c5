"""The six paths both credentials share, for an organisation's token (``project.sessions``,
``project.knowledgebase``, ``project.execution_logs``): against the emulator, where a token and
the project's key see the same sessions, and against small servers that check the exact
request and decode each reply shape the pages show."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from _fakes import FakeClock, PlatformFactory, token
from _hostile import TOKEN, HostileServer, http, sample

from yourgpt_async import (
    AsyncClient,
    AsyncPlatformClient,
    ChatMode,
    ConfigurationError,
    ContentType,
    DeliveryUnknownError,
    ExecutionLog,
    KnowledgebaseHit,
    Message,
    NotFoundError,
    PermissionDeniedError,
    RetryPolicy,
    SendBy,
    Session,
    SessionState,
)
from yourgpt_async.testing import Emulator, Fault

PROJECT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def other_project(emulator: Emulator) -> str:
    """The uid of a project of the organisation other than the key's."""
    return next(p.project_uid for p in emulator.projects if p.project_uid != emulator.project_uid)


# -- one project, two credentials ----------------------------------------------------------


async def test_a_session_made_with_the_token_is_messaged_with_the_key(
    yp: AsyncPlatformClient, client: AsyncClient, emulator: Emulator
) -> None:
    """The token's session is the project's: its key lists it, sends into it and the AI
    answers; the token's create is in the ledger of writes."""
    session = await yp.project(emulator.project_uid).sessions.create()
    assert isinstance(session, Session)
    assert session.session_uid.isdigit()
    assert [s.session_uid for s in await client.get_sessions()] == [session.session_uid]
    reply = await client.send_message(session.session_uid, "Do you ship to Norway")
    assert reply.message == "You said: Do you ship to Norway"
    assert emulator.delivered("Do you ship to Norway") == 1
    assert emulator.written("createSession", session_uid=session.session_uid) == 1


async def test_a_session_made_with_the_key_is_messaged_with_the_token(
    yp: AsyncPlatformClient, client: AsyncClient, emulator: Emulator
) -> None:
    """The token sends as the user and gets the stored message back; the key reads it and
    the AI's answer among the session's messages."""
    uid = (await client.create_session()).session_uid
    sessions = yp.project(emulator.project_uid).sessions
    sent = await sessions.send_message(uid, "Where is my order?")
    assert isinstance(sent, Message)
    assert (sent.session_uid, sent.message, sent.send_by) == (uid, "Where is my order?", "user")
    assert sent.content_type is ContentType.TEXT
    messages = await client.get_session_messages(uid)
    assert [(m.send_by, m.message) for m in messages] == [
        (SendBy.USER, "Where is my order?"),
        (SendBy.ASSISTANT, "You said: Where is my order?"),
    ]
    assert emulator.delivered("Where is my order?") == 1
    assert emulator.written("sendMessage", message="Where is my order?") == 1


async def test_a_message_carries_its_content_type(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """content_type is sent and stored; one outside text|picker|image|audio|video|file is
    refused before anything is sent."""
    sessions = yp.project(emulator.project_uid).sessions
    uid = (await sessions.create()).session_uid
    sent = await sessions.send_message(uid, "https://example.com/a.png", content_type="image")
    assert sent.content_type is ContentType.IMAGE
    before = emulator.request_count()
    with pytest.raises(ConfigurationError, match="content_type") as refused:
        await sessions.send_message(uid, "hi", content_type="sticker")
    assert "'sticker'" in str(refused.value)
    with pytest.raises(ConfigurationError, match="message"):
        await sessions.send_message(uid, "   ")
    assert emulator.request_count() == before


async def test_updates_seen_by_both_credentials(
    yp: AsyncPlatformClient, client: AsyncClient, emulator: Emulator
) -> None:
    """An update by the token shows in the key's list, and the other way round."""
    uid = (await client.create_session()).session_uid
    sessions = yp.project(emulator.project_uid).sessions
    updated = await sessions.update(uid, chat_mode="operator", segment=["vip", "billing"])
    assert (updated.chat_mode, updated.segment) == (ChatMode.OPERATOR, "vip,billing")
    assert (await client.get_sessions()).items[0].chat_mode is ChatMode.OPERATOR
    await client.update_session(uid, state="resolved")
    listed = (await sessions.list()).items[0]
    assert (listed.state, listed.chat_mode) == (SessionState.RESOLVED, ChatMode.BOT)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"state": "resolved", "chat_mode": "bot"}, "cannot be combined with chat_mode"),
        ({}, "nothing to update"),
        ({"state": "archived"}, "'archived'"),
        ({"segment": "x" * 256}, "at most 255"),
    ],
)
async def test_update_refuses_what_the_key_refuses_before_sending(
    yp: AsyncPlatformClient, client: AsyncClient, emulator: Emulator, kwargs: Any, named: str
) -> None:
    """The token's update and the key's refuse the same arguments with the same message,
    before any request."""
    sessions = yp.project(emulator.project_uid).sessions
    with pytest.raises(ConfigurationError) as by_token:
        await sessions.update("17226012685401506", **kwargs)
    with pytest.raises(ConfigurationError) as by_key:
        await client.update_session("17226012685401506", **kwargs)
    assert named in str(by_token.value)
    assert str(by_token.value) == str(by_key.value)
    assert emulator.request_count() == 0


async def test_the_list_filters_by_status_and_has_the_shorter_rows(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """status keeps open or closed sessions; rows lack what only the key's list has."""
    sessions = yp.project(emulator.project_uid).sessions
    first = (await sessions.create()).session_uid
    second = (await sessions.create()).session_uid
    await sessions.update(second, state="closed")
    closed = await sessions.list(status="closed")
    assert [s.session_uid for s in closed] == [second]
    assert closed.items[0].status == "closed"
    assert [s.session_uid for s in await sessions.list(status="OPEN")] == [first]
    every = await sessions.list(order="DESC")
    assert [s.session_uid for s in every] == [second, first]
    assert every.total == 2
    row = every.items[0]
    assert row.total_unseen is None
    assert "last_message_id" not in row.raw
    assert isinstance(row.raw["session_uid"], int)  # a bare number on the wire
    assert row.session_uid == second


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": "pending"},
        {"limit": 101},
        {"page": 0},
        {"order": "newest"},
        {"date_from": "2024-08-03", "date_to": "2024-08-01"},
    ],
)
async def test_the_list_refuses_bad_arguments_before_sending(
    yp: AsyncPlatformClient, emulator: Emulator, kwargs: Any
) -> None:
    """An unknown status, a page size over 100, a bad order or day range: refused, unsent."""
    with pytest.raises(ConfigurationError):
        await yp.project(emulator.project_uid).sessions.list(**kwargs)
    assert emulator.request_count() == 0


async def test_the_token_updates_sessions_with_its_own_parameter_set(
    emulator: Emulator,
) -> None:
    """updateSession with a token refuses a field the token's variant does not have, naming
    it; the key's variant ignores it."""
    async with aiohttp.ClientSession() as http_session:
        made = await http_session.post(
            f"{emulator.base_url}/createSession",
            json={"widget_uid": emulator.widget_uid},
            headers={"api-key": emulator.api_key},
        )
        uid = str((await made.json())["data"]["session_uid"])
        body = {"project_uid": emulator.project_uid, "session_uid": uid, "language": "fr"}
        by_token = await http_session.post(
            f"{emulator.base_url}/updateSession",
            json=body,
            headers={"Authorization": f"Bearer {emulator.api_token}"},
        )
        assert by_token.status == 400
        assert (await by_token.json())["errors"] == {"language": "language is not allowed"}
        by_key = await http_session.post(
            f"{emulator.base_url}/updateSession",
            json={"session_uid": uid, "language": "fr", "segment": "vip"},
            headers={"api-key": emulator.api_key},
        )
        assert by_key.status == 200


# -- knowledge and logs --------------------------------------------------------------------


async def test_search_finds_what_the_project_was_trained_on(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """The token searches the project's documents, best first, by offset and document."""
    shipping = emulator.add_document(
        "We ship to Norway in 3 to 5 days.\n\nReturns are free within 30 days."
    )
    emulator.add_document("Norway has fjords.")
    search = yp.project(emulator.project_uid).knowledgebase.search
    hits = await search("ship to Norway")
    assert all(isinstance(hit, KnowledgebaseHit) for hit in hits)
    assert hits[0].content == "We ship to Norway in 3 to 5 days."
    norway = await search("Norway")
    assert len(norway) == 2
    assert [h.point_id for h in await search("Norway", offset=1)] == [norway[1].point_id]
    assert {h.doc_id for h in await search("Norway", node_id=str(shipping))} == {str(shipping)}
    assert len(await search("Norway", limit=1)) == 1
    assert await search("zebra") == []


async def test_the_token_variant_of_search_requires_a_limit(emulator: Emulator) -> None:
    """The emulator refuses a token's search without limit, as this variant's page says."""
    async with aiohttp.ClientSession() as http_session:
        reply = await http_session.post(
            f"{emulator.base_url}/searchIndexDocument",
            json={"project_uid": emulator.project_uid, "query": "Norway"},
            headers={"Authorization": f"Bearer {emulator.api_token}"},
        )
        assert reply.status == 400
        assert (await reply.json())["errors"] == {"limit": "limit is required"}


async def test_search_on_a_plan_without_it_says_so(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """A 403 from search is the plan lacking it, and the error says so."""
    emulator.set_plan(knowledgebase=False)
    with pytest.raises(PermissionDeniedError, match="Professional plan"):
        await yp.project(emulator.project_uid).knowledgebase.search("Norway")


async def test_execution_logs_list_the_projects_logs_newest_first(
    yp: AsyncPlatformClient, client: AsyncClient, emulator: Emulator
) -> None:
    """The AI answers to messages sent by either credential are logged, newest first, and
    filter by session."""
    first = (await client.create_session()).session_uid
    second = (await yp.project(emulator.project_uid).sessions.create()).session_uid
    await client.send_message(first, "one")
    await yp.project(emulator.project_uid).sessions.send_message(second, "two")
    logs = yp.project(emulator.project_uid).execution_logs
    page = await logs.list()
    assert all(isinstance(log, ExecutionLog) for log in page)
    assert [log.session_uid for log in page] == [second, first]
    assert [log.session_uid for log in await logs.list(order="ASC")] == [first, second]
    assert [log.session_uid for log in await logs.list(session_uid=first)] == [first]
    walked = [log.id async for log in await logs.list(limit=1)]
    assert walked == [log.id for log in page]


# -- who may do what -----------------------------------------------------------------------


async def test_a_project_outside_the_tokens_scope_is_refused_saying_what_to_do(
    make_platform: PlatformFactory, emulator: Emulator
) -> None:
    """A token scoped to another project is refused at once, and told to get the project
    added to the token or to use another."""
    scoped = token(emulator, "api-v1-scoped", projects=frozenset({other_project(emulator)}))
    bot = make_platform(scoped).project(emulator.project_uid)
    for call in (bot.sessions.create, bot.sessions.list, bot.execution_logs.list):
        with pytest.raises(PermissionDeniedError) as refused:
            await call()
        message = str(refused.value)
        assert "project scope" in message
        assert "Settings > API Tokens" in message
        assert refused.value.attempts == 1
    assert emulator.writes == []
    assert (
        await make_platform(scoped).project(other_project(emulator)).sessions.list()
    ).items == ()


async def test_a_viewers_token_reads_but_is_refused_a_write_naming_the_permission(
    make_platform: PlatformFactory, emulator: Emulator
) -> None:
    """A viewer lists sessions and logs, and is refused creating or messaging one with the
    permission it lacks named."""
    viewer = make_platform(token(emulator, "api-v1-viewer", role="viewer"))
    bot = viewer.project(emulator.project_uid)
    assert (await bot.sessions.list()).total == 0
    assert (await bot.execution_logs.list()).items == ()
    for call in (
        bot.sessions.create,
        lambda: bot.sessions.send_message("17226012685401506", "hi"),
    ):
        with pytest.raises(PermissionDeniedError) as refused:
            await call()
        assert "it needs Conversation › Write" in str(refused.value)
        assert refused.value.attempts == 1
    assert emulator.writes == []
    assert emulator.ledger == []


async def test_fine_grained_permissions_decide_for_an_operator(
    make_platform: PlatformFactory, emulator: Emulator
) -> None:
    """An operator may converse but not read the logs (Debugging › Read)."""
    operator = make_platform(token(emulator, "api-v1-operator", role="operator"))
    bot = operator.project(emulator.project_uid)
    session = await bot.sessions.create()
    await bot.sessions.send_message(session.session_uid, "hi")
    with pytest.raises(PermissionDeniedError, match="Debugging › Read"):
        await bot.execution_logs.list()


async def test_an_unknown_project_or_session_is_not_found(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """A project_uid the organisation does not have, or a session of none of its projects."""
    with pytest.raises(NotFoundError):
        await yp.project("no-such-project").sessions.create()
    sessions = yp.project(emulator.project_uid).sessions
    with pytest.raises(NotFoundError, match="Session not found"):
        await sessions.send_message("1", "hi")
    with pytest.raises(NotFoundError, match="Session not found"):
        await sessions.update("1", segment="vip")


async def test_another_projects_session_is_not_reached_through_this_one(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """A session of project A, named under project B, is not found there."""
    uid = (await yp.project(emulator.project_uid).sessions.create()).session_uid
    with pytest.raises(NotFoundError):
        await yp.project(other_project(emulator)).sessions.send_message(uid, "hi")
    assert emulator.ledger == []


# -- left in doubt -------------------------------------------------------------------------


@pytest.mark.parametrize("reconcile", [False, True])
async def test_a_message_lost_after_sending_is_never_sent_again(
    make_platform: PlatformFactory, emulator: Emulator, fake_clock: FakeClock, reconcile: bool
) -> None:
    """A dropped send is DeliveryUnknownError and stored once; a token cannot read the
    session back, so reconcile=True does not resend it either."""
    yp = make_platform(
        retry=RetryPolicy(reconcile=reconcile, sleep=fake_clock.sleep, clock=fake_clock.clock)
    )
    sessions = yp.project(emulator.project_uid).sessions
    uid = (await sessions.create()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    with pytest.raises(DeliveryUnknownError):
        await sessions.send_message(uid, "hello once")
    assert emulator.delivered("hello once") == 1
    assert emulator.request_count("sendMessage") == 1
    assert emulator.request_count("getSessionMessages") == 0


async def test_a_lost_list_or_update_is_retried(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """Reads and updates are retried after a drop: the second attempt answers."""
    sessions = yp.project(emulator.project_uid).sessions
    uid = (await sessions.create()).session_uid
    emulator.fault_plan.add("updateSession", Fault.drop_after())
    emulator.fault_plan.add("getSessions", Fault.drop_after())
    assert (await sessions.update(uid, segment="vip")).segment == "vip"
    assert len(await sessions.list()) == 1
    assert emulator.request_count("updateSession") == emulator.request_count("getSessions") == 2


# -- the wire ------------------------------------------------------------------------------


def _bearer_only(headers: dict[str, str]) -> bool:
    return headers["authorization"] == f"Bearer {TOKEN}" and "api-key" not in headers


async def test_create_sends_only_the_project(
    wire: AsyncPlatformClient, server: HostileServer
) -> None:
    """createSession: the project's uid alone, as JSON under the Bearer token; a bare
    17-digit session_uid decodes to its exact digits."""
    server.reply = sample("createSession_number_uid.json")
    session = await wire.project(PROJECT).sessions.create()
    request = server.requests[0]
    assert request.path == "/chatbot/v1/createSession"
    assert _bearer_only(request.headers)
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"project_uid": PROJECT}
    assert session.session_uid == "17226012685401506"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            "platform_sendMessage.json",
            ("17226012685401506", "Hi there", 241050),
            id="the sample",
        ),
        pytest.param(None, ("17226012685401506", "Hi there", None), id="no data"),
    ],
)
async def test_send_has_no_sender_and_decodes_with_or_without_data(
    wire: AsyncPlatformClient,
    server: HostileServer,
    data: str | None,
    expected: tuple[str, str, int | None],
) -> None:
    """sendMessage: project, session, message and content type, never send_by; the reply's
    message, or the message as sent when the reply has none."""
    server.reply = sample(data) if data else http({"type": "RXSUCCESS", "message": "Message sent"})
    sent = await wire.project(PROJECT).sessions.send_message(
        "17226012685401506", "Hi there", content_type="PICKER"
    )
    request = server.requests[0]
    assert request.path == "/chatbot/v1/sendMessage"
    assert _bearer_only(request.headers)
    assert request.body == {
        "project_uid": PROJECT,
        "session_uid": "17226012685401506",
        "message": "Hi there",
        "content_type": "picker",
    }
    assert (sent.session_uid, sent.message, sent.id) == expected
    assert sent.send_by is SendBy.USER


async def test_the_list_sends_the_tokens_fields_and_decodes_its_rows(
    wire: AsyncPlatformClient, server: HostileServer
) -> None:
    """getSessions: status, from, to, orderBy, page and limit (no view_id, no filter); the
    shorter rows decode, the numeric uid exact."""
    server.reply = sample("platform_getSessions.json")
    page = await wire.project(PROJECT).sessions.list(
        status="closed", date_from="2024-08-01", date_to="2024-08-02", order="desc", page=2, limit=5
    )
    request = server.requests[0]
    assert request.path == "/chatbot/v1/getSessions"
    assert _bearer_only(request.headers)
    assert request.body == {
        "project_uid": PROJECT,
        "status": "closed",
        "from": "2024-08-01",
        "to": "2024-08-02",
        "orderBy": "DESC",
        "page": 2,
        "limit": 5,
    }
    assert page.total == 1
    row = page.items[0]
    assert (row.session_uid, row.country, row.last_message) == (
        "17226012685401506",
        "IN",
        "Hello! How can I assist you today?",
    )


async def test_update_sends_exactly_the_changes(
    wire: AsyncPlatformClient, server: HostileServer
) -> None:
    """updateSession: project, session and only the fields given (no unknown field ever)."""
    server.reply = sample("updateSession.json")
    session = await wire.project(PROJECT).sessions.update(
        "17226012685401506", state=SessionState.UNRESOLVED, segment="vip,billing"
    )
    request = server.requests[0]
    assert request.path == "/chatbot/v1/updateSession"
    assert _bearer_only(request.headers)
    assert request.body == {
        "project_uid": PROJECT,
        "session_uid": "17226012685401506",
        "state": "unresolved",
        "segment": "vip,billing",
    }
    assert (session.state, session.language) == (SessionState.UNRESOLVED, "en")


async def test_search_always_sends_limit(wire: AsyncPlatformClient, server: HostileServer) -> None:
    """searchIndexDocument: the project, the query and always limit (required here); offset
    and node_id only when given."""
    server.reply = sample("searchIndexDocument.json")
    search = wire.project(PROJECT).knowledgebase.search
    hits = await search("reset password")
    await search("reset password", limit=3, offset=6, node_id="4411")
    assert server.requests[0].path == "/chatbot/v1/searchIndexDocument"
    assert _bearer_only(server.requests[0].headers)
    assert server.requests[0].body == {"project_uid": PROJECT, "query": "reset password",
                                       "limit": 10}  # fmt: skip
    assert server.requests[1].body == {
        "project_uid": PROJECT,
        "query": "reset password",
        "limit": 3,
        "offset": 6,
        "node_id": "4411",
    }
    assert [(hit.doc_id, hit.score) for hit in hits] == [("4411", 0.8731), ("4407", 0.7912)]


async def test_logs_send_the_query_and_decode_both_uid_forms(
    wire: AsyncPlatformClient, server: HostileServer
) -> None:
    """getChatbotExecutionLogs: the project and the query by the service's names; the
    session's uid as a number or a string decodes alike."""
    server.reply = sample("getChatbotExecutionLogs.json")
    page = await wire.project(PROJECT).execution_logs.list(
        session_uid="17226012685401506", date_from="2024-08-01", order="asc", limit=20
    )
    request = server.requests[0]
    assert request.path == "/chatbot/v1/getChatbotExecutionLogs"
    assert _bearer_only(request.headers)
    assert request.body == {
        "project_uid": PROJECT,
        "session_uid": "17226012685401506",
        "from": "2024-08-01",
        "orderBy": "ASC",
        "page": 1,
        "limit": 20,
    }
    assert [log.session_uid for log in page] == ["17226012685401506"] * 2
    assert page.items[0].details == {"order": "A-1042", "http_status": 200}


@pytest.mark.parametrize(
    "kwargs",
    [{"query": ""}, {"query": "x" * 5001}, {"query": "ok", "limit": 0}, {"query": "ok",
     "limit": 101}, {"query": "ok", "offset": -1}],
)  # fmt: skip
async def test_search_refuses_bad_arguments_before_sending(
    wire: AsyncPlatformClient, server: HostileServer, kwargs: dict[str, Any]
) -> None:
    """A blank or too long query, a limit outside 1-100, a negative offset: refused, unsent."""
    query = kwargs.pop("query")
    with pytest.raises(ConfigurationError):
        await wire.project(PROJECT).knowledgebase.search(query, **kwargs)
    assert server.requests == []


async def test_raw_responses_reach_the_project_resources(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """``with_raw_response.project(uid)`` reaches sessions, search and logs."""
    bot = yp.with_raw_response.project(emulator.project_uid)
    raw = await bot.sessions.create()
    assert raw.status == 200
    assert raw.request_id
    assert isinstance(raw.parse(), Session)
    assert (await bot.knowledgebase.search("Norway")).parse() == []
    assert (await bot.execution_logs.list()).parse().items == ()

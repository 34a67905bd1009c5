"""AsyncClient over real loopback HTTP against the emulator: endpoints, hand-off, lifecycle."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone
from typing import Any

import aiohttp
import pytest
from _fakes import ClientFactory
from _hostile import HostileServer, success
from aiohttp import web

from yourgpt_async import (
    APIError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    ChatMode,
    Choice,
    ConfigurationError,
    ContentType,
    Message,
    Page,
    PermissionDeniedError,
    RateLimit,
    RetryPolicy,
    SendBy,
    Session,
    SessionMessage,
    SessionState,
    Timeouts,
    TransportError,
)
from yourgpt_async.testing import OTHER_WIDGET_UID, Emulator, Fault


async def new_sessions(client: AsyncClient, count: int) -> list[str]:
    return [(await client.create_session()).session_uid for _ in range(count)]


# -- endpoints --------------------------------------------------------------------------------


async def test_create_session(client: AsyncClient, emulator: Emulator) -> None:
    """create_session returns a pending bot-mode Session whose 17-digit uid is an exact str."""
    session = await client.create_session()
    assert isinstance(session, Session)
    assert session.session_uid == "17226012685401506"
    assert session.chat_mode is ChatMode.BOT
    assert session.state is SessionState.PENDING
    assert session.created_at is not None
    assert session.created_at.utcoffset() == timedelta(0)
    assert emulator.request_count("createSession") == 1


async def test_create_session_uids_are_distinct(client: AsyncClient) -> None:
    """Each create_session makes a new session."""
    assert await new_sessions(client, 3) == [
        "17226012685401506",
        "17226012685401507",
        "17226012685401508",
    ]


async def test_send_message_as_user_returns_the_ai_reply(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A user message is delivered once and the AI's text reply comes back as a Message."""
    uid = (await client.create_session()).session_uid
    reply = await client.send_message(uid, "Hello")
    assert isinstance(reply, Message)
    assert reply.send_by is SendBy.ASSISTANT
    assert reply.message == "You said: Hello"
    assert reply.content_type is ContentType.TEXT
    assert reply.choices == ()
    assert reply.session_uid == uid
    assert isinstance(reply.id, int)
    assert [(e.session_uid, e.send_by, e.message) for e in emulator.ledger] == [
        (uid, "user", "Hello")
    ]


async def test_non_ascii_text_round_trips(client: AsyncClient, emulator: Emulator) -> None:
    """Accents, emoji and quotes arrive and come back unchanged."""
    uid = (await client.create_session()).session_uid
    text = 'héllo "wörld" 👋 — 你好'
    reply = await client.send_message(uid, text)
    assert reply.message == f"You said: {text}"
    assert emulator.delivered(text) == 1


@pytest.mark.parametrize("send_by", [SendBy.OPERATOR, SendBy.ASSISTANT, "operator", "Assistant"])
async def test_send_message_as_operator_or_assistant_returns_the_stored_message(
    client: AsyncClient, emulator: Emulator, send_by: SendBy | str
) -> None:
    """Operator and assistant messages get no AI reply; the stored message comes back."""
    uid = (await client.create_session()).session_uid
    stored = await client.send_message(uid, "Noted", send_by=send_by)
    expected = SendBy(str(send_by).lower())
    assert stored.send_by is expected
    assert stored.message == "Noted"
    assert stored.session_uid == uid
    assert [(e.send_by, e.message) for e in emulator.ledger] == [(expected.value, "Noted")]
    history = await client.get_session_messages(uid)
    assert [(m.send_by, m.message) for m in history] == [(expected, "Noted")]


async def test_the_result_says_whether_the_ai_answered(
    client: AsyncClient, emulator: Emulator
) -> None:
    """is_ai_reply: true for the AI's answer to a user's message; false for the message itself,
    whether an operator holds the session, or it was sent as the operator or the assistant
    (whose stored message says "assistant" just as an AI answer does)."""
    uid = (await client.create_session()).session_uid
    answered = await client.send_message(uid, "Hi")
    as_assistant = await client.send_message(uid, "Opening hours: 9-5", send_by="assistant")
    as_operator = await client.send_message(uid, "A human here", send_by=SendBy.OPERATOR)
    held = await client.send_message(uid, "Are you a bot?")
    assert (answered.is_ai_reply, answered.send_by) == (True, SendBy.ASSISTANT)
    assert (as_assistant.is_ai_reply, as_assistant.send_by) == (False, SendBy.ASSISTANT)
    assert (as_operator.is_ai_reply, held.is_ai_reply) == (False, False)
    assert held.message == "Are you a bot?"
    assert "is_ai_reply=True" in repr(answered)


async def test_a_reply_cannot_claim_to_be_the_ais(server: HostileServer) -> None:
    """is_ai_reply is the client's to set: a reply whose data says "is_ai_reply": true for the
    stored message (send_by user) is not taken at its word."""
    server.reply = success({"id": 1, "send_by": "user", "message": "hi", "is_ai_reply": True})
    async with AsyncClient("apk-x", widget_uid="w", base_url=server.base_url) as client:
        stored = await client.send_message("1", "hi")
    assert stored.is_ai_reply is False
    assert stored.raw["is_ai_reply"] is True


async def test_question_reply_is_a_picker_with_choices(client: AsyncClient) -> None:
    """A reply with picker choices decodes them into Choice objects, in order."""
    uid = (await client.create_session()).session_uid
    reply = await client.send_message(uid, "Can you help?")
    assert reply.content_type is ContentType.PICKER
    assert [choice.value for choice in reply.choices] == ["like", "dislike", "requesthumanoperator"]
    assert all(isinstance(choice, Choice) and choice.enabled for choice in reply.choices)
    assert reply.choices[2].text == "Request a human operator"


async def test_update_session(client: AsyncClient) -> None:
    """update_session sets state, chat mode and segment (a list is joined with commas)."""
    uid = (await client.create_session()).session_uid
    updated = await client.update_session(
        uid, state=SessionState.UNRESOLVED, chat_mode="operator", segment=["vip", "billing"]
    )
    assert updated.session_uid == uid
    assert updated.state is SessionState.UNRESOLVED
    assert updated.chat_mode is ChatMode.OPERATOR
    assert updated.segment == "vip,billing"
    assert updated.language == "en"
    again = await client.update_session(uid, segment="vip,billing")
    assert (again.state, again.chat_mode, again.segment) == (
        updated.state,
        updated.chat_mode,
        updated.segment,
    )


async def test_resolving_hands_the_session_back_to_the_bot(client: AsyncClient) -> None:
    """state=resolved switches an operator session back to bot mode."""
    uid = (await client.create_session()).session_uid
    await client.send_message(uid, "Taking over", send_by=SendBy.OPERATOR)
    resolved = await client.update_session(uid, state="resolved")
    assert (resolved.state, resolved.chat_mode) == (SessionState.RESOLVED, ChatMode.BOT)


async def test_get_sessions_pages(client: AsyncClient) -> None:
    """get_sessions returns a Page with total, its page and limit, and the right slice."""
    uids = await new_sessions(client, 5)
    first = await client.get_sessions(limit=2)
    assert isinstance(first, Page)
    assert (first.page, first.limit, first.total, first.has_more) == (1, 2, 5, True)
    assert [s.session_uid for s in first] == uids[:2]
    last = await client.get_sessions(page=3, limit=2)
    assert [s.session_uid for s in last] == uids[4:]
    assert last.has_more is False
    assert all(s.created_at is not None for s in last)  # snake_case timestamps decoded


async def test_get_sessions_order(client: AsyncClient) -> None:
    """Sessions come by last activity: ASC oldest first, DESC newest first."""
    uids = await new_sessions(client, 3)
    await client.send_message(uids[0], "bump")  # now the most recently active
    ascending = [s.session_uid for s in await client.get_sessions(order="ASC")]
    descending = [s.session_uid for s in await client.get_sessions(order="desc")]
    assert ascending == [uids[1], uids[2], uids[0]]
    assert descending == ascending[::-1]


async def test_get_sessions_filters_and_dates(client: AsyncClient) -> None:
    """Filters and dates are sent in the service's shape (model SESSION, YYYY-MM-DD)."""
    uids = await new_sessions(client, 2)
    await client.update_session(uids[1], state="closed")
    page = await client.get_sessions(
        filters=[{"key": "state", "operator": "=", "value": "closed"}],
        date_from="2000-01-01",
        date_to="2999-12-31",
    )
    assert [s.session_uid for s in page] == [uids[1]]
    none = await client.get_sessions(date_from="2999-01-01")
    assert (none.items, none.total) == ((), 0)


async def test_iter_sessions_walks_every_page(client: AsyncClient, emulator: Emulator) -> None:
    """iter_sessions yields every session once, in order, fetching exactly the pages needed."""
    uids = await new_sessions(client, 7)
    emulator.reset()
    seen = [session.session_uid async for session in client.iter_sessions(limit=3)]
    assert seen == uids
    assert emulator.request_count("getSessions") == 3


async def test_iter_sessions_with_an_exact_multiple(
    client: AsyncClient, emulator: Emulator
) -> None:
    """When the last page is full, total stops the walk without fetching an empty page."""
    uids = await new_sessions(client, 4)
    emulator.reset()
    seen = [s.session_uid async for s in client.iter_sessions(limit=2, order="DESC")]
    assert seen == uids[::-1]
    assert emulator.request_count("getSessions") == 2


async def test_get_session_messages(client: AsyncClient) -> None:
    """get_session_messages lists the user's messages and the AI's replies, ASC or DESC."""
    uid = (await client.create_session()).session_uid
    await client.send_message(uid, "one")
    await client.send_message(uid, "two?")
    page = await client.get_session_messages(uid, limit=10)
    assert isinstance(page, Page)
    assert page.total == 4
    assert all(isinstance(m, SessionMessage) for m in page)
    assert [(m.send_by, m.message) for m in page] == [
        (SendBy.USER, "one"),
        (SendBy.ASSISTANT, "You said: one"),
        (SendBy.USER, "two?"),
        (SendBy.ASSISTANT, "You said: two?"),
    ]
    ids = [m.id for m in page]
    assert ids == sorted(ids)
    reply = page.items[1]
    assert reply.ai_log[0].query_message_id == page.items[0].id
    assert reply.ai_log[0].reply_message_id == reply.id
    assert page.items[3].content_type is ContentType.PICKER
    assert len(page.items[3].choices) == 3
    assert all(m.created_at is not None and m.created_at.tzinfo is timezone.utc for m in page)
    descending = await client.get_session_messages(uid, order="DESC", limit=3, page=1)
    assert [m.id for m in descending] == ids[::-1][:3]


async def test_iter_session_messages_walks_every_page(
    client: AsyncClient, emulator: Emulator
) -> None:
    """iter_session_messages yields all messages, oldest first, across pages."""
    uid = (await client.create_session()).session_uid
    for i in range(5):
        await client.send_message(uid, f"m{i}", send_by=SendBy.ASSISTANT)
    emulator.reset()
    texts = [m.message async for m in client.iter_session_messages(uid, limit=2)]
    assert texts == [f"m{i}" for i in range(5)]
    assert emulator.request_count("getSessionMessages") == 3
    newest_first = [m.message async for m in client.iter_session_messages(uid, order="DESC")]
    assert newest_first == texts[::-1]


# -- operator hand-off ------------------------------------------------------------------------


async def test_operator_hand_off_round_trip(client: AsyncClient, emulator: Emulator) -> None:
    """User gets AI replies; an operator silences the AI until chat_mode=bot restores it."""
    uid = (await client.create_session()).session_uid

    reply = await client.send_message(uid, "Hi")
    assert (reply.send_by, reply.message) == (SendBy.ASSISTANT, "You said: Hi")

    stored = await client.send_message(uid, "A human here", send_by=SendBy.OPERATOR)
    assert (stored.send_by, stored.message) == (SendBy.OPERATOR, "A human here")
    sessions = await client.get_sessions()
    assert sessions.items[0].chat_mode is ChatMode.OPERATOR

    silent = await client.send_message(uid, "Are you a bot?")
    assert (silent.send_by, silent.message) == (SendBy.USER, "Are you a bot?")
    assert silent.choices == ()

    back = await client.update_session(uid, chat_mode=ChatMode.BOT)
    assert back.chat_mode is ChatMode.BOT
    again = await client.send_message(uid, "Hello again")
    assert (again.send_by, again.message) == (SendBy.ASSISTANT, "You said: Hello again")

    history = [(m.send_by, m.message) async for m in client.iter_session_messages(uid)]
    assert history == [
        (SendBy.USER, "Hi"),
        (SendBy.ASSISTANT, "You said: Hi"),
        (SendBy.OPERATOR, "A human here"),
        (SendBy.USER, "Are you a bot?"),
        (SendBy.USER, "Hello again"),
        (SendBy.ASSISTANT, "You said: Hello again"),
    ]
    assert [e.message for e in emulator.ledger] == [
        "Hi",
        "A human here",
        "Are you a bot?",
        "Hello again",
    ]


# -- concurrency ------------------------------------------------------------------------------


async def test_thousand_concurrent_sends_through_one_client(
    client: AsyncClient, emulator: Emulator
) -> None:
    """1,000 concurrent send_message calls on one client all succeed, each delivered once."""
    uids = await new_sessions(client, 10)
    work = [(uids[i % 10], f"message {i}") for i in range(1000)]
    replies = await asyncio.gather(*(client.send_message(uid, text) for uid, text in work))
    assert [r.message for r in replies] == [f"You said: {text}" for _, text in work]
    assert [r.session_uid for r in replies] == [uid for uid, _ in work]
    assert len(emulator.ledger) == 1000
    assert len({entry.message_id for entry in emulator.ledger}) == 1000
    assert sorted(entry.message for entry in emulator.ledger) == sorted(t for _, t in work)
    assert emulator.request_count("sendMessage") == 1000  # no retries, no duplicates


# -- lifecycle --------------------------------------------------------------------------------


async def test_session_is_created_lazily_and_reused(client: AsyncClient) -> None:
    """No aiohttp session exists until the first call; every later call reuses the same one."""
    assert client._transport._session is None
    uid = (await client.create_session()).session_uid
    session = client._transport._session
    assert session is not None
    await client.send_message(uid, "again")
    assert client._transport._session is session


def test_client_can_be_built_outside_an_event_loop() -> None:
    """Constructing a client needs no running loop and opens nothing (nothing to leak)."""
    client = AsyncClient("apk-test", widget_uid="w", base_url="http://127.0.0.1:9/v1")
    assert client._transport._session is None
    assert not client.closed


async def test_async_with_opens_and_closes(make_client: ClientFactory) -> None:
    """`async with` returns a working client and closes it, and its session, on exit."""
    async with make_client() as client:
        session = await client.create_session()
        http = client._transport._session
        assert session.session_uid
    assert client.closed
    assert http is not None
    assert http.closed


async def test_aclose_twice_is_harmless(client: AsyncClient) -> None:
    """A second aclose() does nothing and raises nothing."""
    await client.create_session()
    await client.aclose()
    await client.aclose()
    assert client.closed


async def test_aclose_without_any_request(client: AsyncClient) -> None:
    """Closing a client that never sent anything works and leaves nothing open."""
    await client.aclose()
    assert client.closed
    assert client._transport._session is None


@pytest.mark.parametrize(
    "use",
    [
        pytest.param(lambda c: c.create_session(), id="create_session"),
        pytest.param(lambda c: c.send_message("1", "hi"), id="send_message"),
        pytest.param(lambda c: c.update_session("1", state="closed"), id="update_session"),
        pytest.param(lambda c: c.get_sessions(), id="get_sessions"),
        pytest.param(lambda c: c.get_session_messages("1"), id="get_session_messages"),
        pytest.param(lambda c: c.iter_sessions().__anext__(), id="iter_sessions"),
        pytest.param(lambda c: c.iter_session_messages("1").__anext__(), id="iter_messages"),
        pytest.param(lambda c: c.__aenter__(), id="async_with"),
    ],
)
async def test_use_after_close_is_a_clear_error(
    client: AsyncClient, emulator: Emulator, use: Any
) -> None:
    """Any use of a closed client raises RuntimeError saying so, without sending anything."""
    await client.create_session()
    await client.aclose()
    before = emulator.request_count()
    with pytest.raises(RuntimeError, match="AsyncClient is closed"):
        await use(client)
    assert emulator.request_count() == before


async def test_caller_supplied_session_is_used_and_not_closed(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """A session passed in carries the requests, and the client leaves it open on close."""
    urls: list[str] = []

    async def on_request_start(_: object, __: object, params: Any) -> None:
        urls.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    http = aiohttp.ClientSession(trace_configs=[trace])
    try:
        async with make_client(session=http) as client:
            uid = (await client.create_session()).session_uid
            await client.send_message(uid, "through your session")
        assert client.closed
        assert not http.closed
        assert urls == [f"{emulator.base_url}/createSession", f"{emulator.base_url}/sendMessage"]
        assert emulator.delivered("through your session") == 1
    finally:
        await http.close()


@pytest.mark.parametrize(
    ("api_key", "call", "expected"),
    [
        pytest.param("apk-wrong", lambda c: c.get_sessions(), AuthenticationError, id="401"),
        pytest.param(
            None,
            lambda c: c.create_session(widget_uid=OTHER_WIDGET_UID),
            PermissionDeniedError,
            id="403",
        ),
        pytest.param(
            None, lambda c: c.send_message("1", "hi", widget_uid="nope"), BadRequestError, id="400"
        ),
    ],
)
async def test_caller_session_raise_for_status_does_not_change_errors(
    make_client: ClientFactory,
    emulator: Emulator,
    api_key: str | None,
    call: Any,
    expected: type[APIError],
) -> None:
    """A caller session with raise_for_status=True still gets the API's own error classes."""
    async with aiohttp.ClientSession(raise_for_status=True) as http:
        client = make_client(session=http, api_key=api_key or emulator.api_key)
        with pytest.raises(APIError) as caught:
            await call(client)
    assert type(caught.value) is expected


async def test_client_timeouts_apply_to_a_caller_session(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """The client's Timeouts bound each request even on a session with no timeout of its own."""
    emulator.fault_plan.add("getSessions", Fault.latency(5))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        client = make_client(
            session=http, timeout=Timeouts(total=0.05), retry=RetryPolicy(attempts=1)
        )
        with pytest.raises(TransportError, match="no complete reply"):
            await client.get_sessions()


# -- configuration from the environment -------------------------------------------------------


async def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    """Key, widget and base URL come from YOURGPT_* when not passed."""
    monkeypatch.setenv("YOURGPT_API_KEY", emulator.api_key)
    monkeypatch.setenv("YOURGPT_WIDGET_UID", emulator.widget_uid)
    monkeypatch.setenv("YOURGPT_BASE_URL", emulator.base_url)
    async with AsyncClient(rate_limit=RateLimit.unlimited()) as client:
        assert client.base_url == emulator.base_url
        assert client.widget_uid == emulator.widget_uid
        uid = (await client.create_session()).session_uid
        await client.send_message(uid, "from the environment")
    assert emulator.ledger[0].widget_uid == emulator.widget_uid
    assert emulator.requests[0].api_key_ok


async def test_arguments_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator
) -> None:
    """Explicit arguments override the YOURGPT_* variables."""
    monkeypatch.setenv("YOURGPT_API_KEY", "apk-from-env-is-wrong")
    monkeypatch.setenv("YOURGPT_WIDGET_UID", "widget-from-env")
    monkeypatch.setenv("YOURGPT_BASE_URL", "http://127.0.0.1:9/nowhere")
    async with AsyncClient(
        emulator.api_key, widget_uid=emulator.widget_uid, base_url=emulator.base_url
    ) as client:
        assert client.base_url == emulator.base_url
        assert client.widget_uid == emulator.widget_uid
        await client.create_session()
    assert emulator.requests[0].api_key_ok


def test_default_base_url_is_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without base_url or YOURGPT_BASE_URL the client talks to the real service over https."""
    monkeypatch.delenv("YOURGPT_BASE_URL", raising=False)
    assert AsyncClient("apk-x").base_url == "https://api.yourgpt.ai/chatbot/v1"


@pytest.mark.parametrize("value", [None, ""])
def test_missing_key_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """No key (argument nor non-empty YOURGPT_API_KEY) fails at construction, naming both."""
    if value is None:
        monkeypatch.delenv("YOURGPT_API_KEY", raising=False)
    else:
        monkeypatch.setenv("YOURGPT_API_KEY", value)
    with pytest.raises(ConfigurationError, match="YOURGPT_API_KEY") as caught:
        AsyncClient(widget_uid="w")
    assert "api_key" in str(caught.value)


def test_widget_uid_is_optional_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client without a widget uid can be built (the list endpoints do not need one)."""
    monkeypatch.delenv("YOURGPT_WIDGET_UID", raising=False)
    assert AsyncClient("apk-x").widget_uid is None


async def test_per_call_widget_uid(
    make_client: ClientFactory, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create_session and send_message take the widget per call when the client has none."""
    monkeypatch.delenv("YOURGPT_WIDGET_UID", raising=False)
    client = make_client(widget_uid=None)
    uid = (await client.create_session(widget_uid=emulator.widget_uid)).session_uid
    await client.send_message(uid, "per call", widget_uid=emulator.widget_uid)
    assert emulator.ledger[0].widget_uid == emulator.widget_uid


async def test_repr_names_the_endpoint_and_state() -> None:
    """repr shows base URL, widget and open/closed state (and nothing secret)."""
    client = AsyncClient("apk-x", widget_uid="w-1", base_url="http://127.0.0.1:9/v1")
    assert repr(client) == "<AsyncClient base_url='http://127.0.0.1:9/v1' widget_uid='w-1' open>"
    await client.aclose()
    assert repr(client).endswith("closed>")


async def test_iteration_stops_when_the_service_ignores_the_page(
    make_client: ClientFactory,
) -> None:
    """A service that sends page 1 again for page 2 (and no total) ends the walk, not loops it."""
    body = {
        "type": "RXSUCCESS",
        "message": "ok",
        "data": [{"id": i, "session_uid": str(i)} for i in range(2)],
    }
    hits: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append((await request.json())["page"])
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/chatbot/v1/getSessions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        client = make_client(base_url=f"http://127.0.0.1:{port}/chatbot/v1")
        seen = [s.session_uid async for s in client.iter_sessions(limit=2)]
    finally:
        await runner.cleanup()
    assert seen == ["0", "1"]
    assert hits == [1, 2]

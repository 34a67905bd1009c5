"""Tests of the emulator itself, over real loopback HTTP with a raw aiohttp client."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from yourgpt_async.testing import (
    DEFAULT_API_KEY,
    DEFAULT_WIDGET_UID,
    OTHER_WIDGET_UID,
    Emulator,
    EmulatorRateLimit,
    Fault,
    FaultKind,
    FaultPlan,
    LedgerEntry,
    RequestRecord,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
SESSION_FIELDS = {
    "id", "session_uid", "chat_mode", "project_id", "integration_id", "state", "segment",
    "status", "device_type", "platform", "ip", "country", "visitor_id", "is_emulator", "data",
    "contact_id", "createdAt", "updatedAt",
}  # fmt: skip
LIST_SESSION_FIELDS = (SESSION_FIELDS - {"createdAt", "updatedAt"}) | {
    "created_at", "updated_at", "total_unseen", "last_message_time", "last_message",
    "last_message_id", "last_message_content_type", "last_message_type", "visitor_data",
    "contact_data", "session_meta",
}  # fmt: skip
MESSAGE_FIELDS = {
    "id", "session_id", "send_by", "rate", "message", "type", "seen", "sender_id",
    "content_type", "choices", "targets", "url", "delivered", "provider_message_id", "streaming",
    "response_source", "extra_data", "createdAt", "deleted_at", "AILog",
}  # fmt: skip
SENT_FIELDS = {
    "send_by", "origin", "session_uid", "type", "message_id", "message", "content_type", "id",
    "choices",
}  # fmt: skip


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession,
    emu: Emulator,
    endpoint: str,
    body: Mapping[str, Any] | None = None,
    *,
    form: bool = False,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """POST `body` as JSON (or as a form) and return the status and decoded JSON reply.

    The emulator's own key is sent unless `headers` says otherwise.
    """
    if headers is None:
        headers = {"api-key": emu.api_key}
    kwargs: dict[str, Any] = {"json": body}
    if form:
        fields = (body or {}).items()
        kwargs = {"data": {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields}}
    async with http.post(f"{emu.base_url}/{endpoint}", headers=headers, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def new_session(http: aiohttp.ClientSession, emu: Emulator) -> str:
    status, reply = await post(http, emu, "createSession", {"widget_uid": emu.widget_uid})
    assert status == 200, reply
    return str(reply["data"]["session_uid"])


async def send(
    http: aiohttp.ClientSession, emu: Emulator, session_uid: str, message: str, **extra: Any
) -> tuple[int, Any]:
    body = {"widget_uid": emu.widget_uid, "session_uid": session_uid, "message": message, **extra}
    return await post(http, emu, "sendMessage", body)


# -- endpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [False, True])
async def test_create_session_returns_full_session(
    emu: Emulator, http: aiohttp.ClientSession, form: bool
) -> None:
    """createSession answers a pending bot-mode session with every documented field."""
    status, reply = await post(
        http, emu, "createSession", {"widget_uid": DEFAULT_WIDGET_UID}, form=form
    )
    assert status == 200
    assert reply["type"] == "RXSUCCESS"
    data = reply["data"]
    assert set(data) == SESSION_FIELDS
    assert data["session_uid"] == 17226012685401506
    assert (data["chat_mode"], data["state"], data["status"]) == ("bot", "pending", "open")
    assert data["is_emulator"] is True
    assert data["data"] == {}
    assert ISO_MS.fullmatch(data["createdAt"])
    assert ISO_MS.fullmatch(data["updatedAt"])


async def test_create_session_uid_is_bare_big_json_number(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """createSession writes session_uid as an exact bare JSON number; uids count up."""
    texts = []
    for _ in range(2):
        async with http.post(
            f"{emu.base_url}/createSession",
            headers={"api-key": emu.api_key},
            json={"widget_uid": emu.widget_uid},
        ) as response:
            texts.append(await response.text())
    assert re.search(r'"session_uid": 17226012685401506[,}]', texts[0])
    assert re.search(r'"session_uid": 17226012685401507[,}]', texts[1])


@pytest.mark.parametrize("form", [False, True])
async def test_send_message_user_gets_deterministic_ai_reply(
    emu: Emulator, http: aiohttp.ClientSession, form: bool
) -> None:
    """A user message is answered by "You said: ..." as plain text; only it is in the ledger."""
    uid = await new_session(http, emu)
    body = {"widget_uid": emu.widget_uid, "session_uid": uid, "message": "Hello"}
    status, reply = await post(http, emu, "sendMessage", body, form=form)
    assert status == 200
    assert reply["message"] == "AI reply"
    data = reply["data"]
    assert set(data) == SENT_FIELDS
    assert data["send_by"] == "assistant"
    assert data["origin"] == "api"
    assert data["session_uid"] == uid
    assert data["message"] == "You said: Hello"
    assert (data["content_type"], data["choices"]) == ("text", [])
    assert data["id"] == data["message_id"]
    assert emu.ledger == [LedgerEntry(data["id"] - 1, uid, "user", "Hello", emu.widget_uid)]
    assert emu.delivered("Hello") == 1
    assert emu.delivered("You said: Hello") == 0


async def test_question_gets_picker_reply(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """A user message ending in "?" is answered by a picker with like/dislike/operator."""
    uid = await new_session(http, emu)
    _, reply = await send(http, emu, uid, "Can you help?")
    assert reply["data"]["content_type"] == "picker"
    assert [c["value"] for c in reply["data"]["choices"]] == [
        "like",
        "dislike",
        "requesthumanoperator",
    ]
    assert all(set(c) == {"icon", "text", "value", "enabled"} for c in reply["data"]["choices"])


async def test_operator_mode_silences_ai_until_chat_mode_bot(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """An operator message stops AI replies; updateSession chat_mode=bot brings them back."""
    uid = await new_session(http, emu)
    _, reply = await send(http, emu, uid, "I'll take it", send_by="operator")
    assert reply["data"]["send_by"] == "operator"
    assert reply["data"]["message"] == "I'll take it"

    _, reply = await send(http, emu, uid, "Hi?")
    assert reply["data"]["send_by"] == "user"
    assert reply["data"]["message"] == "Hi?"
    assert reply["data"]["choices"] == []

    status, reply = await post(http, emu, "updateSession", {"session_uid": uid, "chat_mode": "bot"})
    assert (status, reply["data"]["chat_mode"]) == (200, "bot")
    _, reply = await send(http, emu, uid, "Again")
    assert reply["data"]["message"] == "You said: Again"
    assert [(e.send_by, e.message) for e in emu.ledger] == [
        ("operator", "I'll take it"),
        ("user", "Hi?"),
        ("user", "Again"),
    ]


async def test_assistant_message_gets_no_reply(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """send_by=assistant stores the message, returns it and leaves the session in bot mode."""
    uid = await new_session(http, emu)
    _, reply = await send(http, emu, uid, "Welcome!", send_by="assistant")
    assert (reply["data"]["send_by"], reply["data"]["message"]) == ("assistant", "Welcome!")
    _, messages = await post(http, emu, "getSessionMessages", {"session_uid": uid})
    assert messages["total"] == 1
    _, sessions = await post(http, emu, "getSessions", {})
    assert sessions["data"][0]["chat_mode"] == "bot"


@pytest.mark.parametrize("form", [False, True])
async def test_update_session_sets_fields(
    emu: Emulator, http: aiohttp.ClientSession, form: bool
) -> None:
    """updateSession sets state, chat_mode and segment and answers the session plus language."""
    uid = await new_session(http, emu)
    body = {"session_uid": uid, "state": "unresolved", "chat_mode": "operator", "segment": "vip"}
    status, reply = await post(http, emu, "updateSession", body, form=form)
    assert status == 200
    data = reply["data"]
    assert set(data) == SESSION_FIELDS | {"language"}
    assert data["session_uid"] == uid
    assert (data["state"], data["chat_mode"], data["segment"], data["language"]) == (
        "unresolved",
        "operator",
        "vip",
        "en",
    )


async def test_resolving_switches_to_bot_mode(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """state=resolved puts the session back in bot mode, so the AI answers again."""
    uid = await new_session(http, emu)
    await send(http, emu, uid, "operator here", send_by="operator")
    _, reply = await post(http, emu, "updateSession", {"session_uid": uid, "state": "resolved"})
    assert (reply["data"]["state"], reply["data"]["chat_mode"]) == ("resolved", "bot")
    _, reply = await send(http, emu, uid, "x")
    assert reply["data"]["send_by"] == "assistant"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"state": "resolved", "chat_mode": "bot"}, "chat_mode"),
        ({"state": "open"}, "state"),
        ({"chat_mode": "1"}, "chat_mode"),
        ({"segment": "x" * 256}, "segment"),
        ({"session_uid": ""}, "session_uid"),
    ],
)
async def test_update_session_rejects_bad_values(
    emu: Emulator, http: aiohttp.ClientSession, changes: dict[str, str], field: str
) -> None:
    """updateSession answers 400 with `errors` for invalid values and resolved+chat_mode."""
    uid = await new_session(http, emu)
    status, reply = await post(http, emu, "updateSession", {"session_uid": uid, **changes})
    assert status == 400
    assert reply["type"] == "RXERROR"
    assert list(reply["errors"]) == [field]


async def test_get_sessions_pages_orders_and_scopes(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """getSessions pages by limit with a stable total, orders by last activity, per project."""
    uids = [await new_session(http, emu) for _ in range(5)]
    await send(http, emu, uids[1], "bump")  # uids[1] becomes the most recently active

    _, reply = await post(http, emu, "getSessions", {"limit": 2, "page": 1})
    assert reply["total"] == 5
    assert [s["session_uid"] for s in reply["data"]] == [uids[0], uids[2]]
    assert set(reply["data"][0]) == LIST_SESSION_FIELDS

    _, reply = await post(http, emu, "getSessions", {"orderBy": "DESC", "limit": 3}, form=True)
    assert [s["session_uid"] for s in reply["data"]] == [uids[1], uids[4], uids[3]]
    bumped = reply["data"][0]
    assert bumped["last_message"] == "You said: bump"
    assert bumped["last_message_content_type"] == "text"
    assert bumped["total_unseen"] == 1

    _, reply = await post(http, emu, "getSessions", {"limit": 2, "page": 4})
    assert (reply["total"], reply["data"]) == (5, [])

    async with Emulator(api_keys={"apk-2": "project-2", DEFAULT_API_KEY: "project-1"}) as other:
        assert other.widget_uid == OTHER_WIDGET_UID  # the first widget of the first key
        await new_session(http, other)
        _, reply = await post(http, other, "getSessions", {})
        assert reply["total"] == 1
        headers = {"api-key": DEFAULT_API_KEY}
        _, reply = await post(http, other, "getSessions", {}, headers=headers)
        assert reply["total"] == 0


async def test_get_sessions_filters_and_dates(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """getSessions applies "=" filters on session fields, ignores unknown ones, bounds by date."""
    uids = [await new_session(http, emu) for _ in range(3)]
    await post(http, emu, "updateSession", {"session_uid": uids[2], "state": "closed"})
    condition = {"model": "SESSION", "key": "state", "operator": "=", "value": "closed"}
    ignored = {"model": "CONTACT", "key": "email", "operator": "eq", "value": "x"}
    for form in (False, True):
        body = {"filter": [condition, ignored], "view_id": 7}
        _, reply = await post(http, emu, "getSessions", body, form=form)
        assert [s["session_uid"] for s in reply["data"]] == [uids[2]]
    _, reply = await post(http, emu, "getSessions", {"from": "2000-01-01", "to": "2000-12-31"})
    assert reply["total"] == 0
    status, reply = await post(http, emu, "getSessions", {"from": "01/01/2000"})
    assert (status, list(reply["errors"])) == (400, ["from"])


@pytest.mark.parametrize("body", [{"limit": 0}, {"limit": 101}, {"page": 0}, {"orderBy": "UP"}])
async def test_list_endpoints_reject_bad_paging(
    emu: Emulator, http: aiohttp.ClientSession, body: dict[str, object]
) -> None:
    """limit outside 1..100, page below 1 and an unknown order are 400."""
    uid = await new_session(http, emu)
    for endpoint in ("getSessions", "getSessionMessages"):
        status, reply = await post(http, emu, endpoint, {"session_uid": uid, **body})
        assert (status, list(reply["errors"])) == (400, list(body))


async def test_get_session_messages_lists_messages_with_ai_log(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """getSessionMessages lists user messages and AI replies by id, linked by AILog, paged."""
    uid = await new_session(http, emu)
    await send(http, emu, uid, "one")
    await send(http, emu, uid, "two?")

    _, reply = await post(http, emu, "getSessionMessages", {"session_uid": uid, "limit": 3})
    assert reply["total"] == 4
    query, answer, query2 = reply["data"]
    assert set(query) == MESSAGE_FIELDS
    assert (query["send_by"], query["message"], query["response_source"]) == ("user", "one", None)
    assert (answer["send_by"], answer["response_source"]) == ("assistant", "ai")
    assert answer["AILog"] == [
        {
            "id": answer["AILog"][0]["id"],
            "query_message_id": query["id"],
            "reply_message_id": answer["id"],
            "source_node": None,
        }
    ]
    assert query["AILog"] == []
    assert query2["id"] > answer["id"] > query["id"]
    assert ISO_MS.fullmatch(query["createdAt"])

    for field in ("orderBy", "order"):
        body = {"session_uid": uid, field: "DESC", "limit": 3, "page": 2}
        _, reply = await post(http, emu, "getSessionMessages", body, form=True)
        assert [m["message"] for m in reply["data"]] == ["one"]
    _, reply = await post(http, emu, "getSessionMessages", {"session_uid": uid, "page": 2})
    assert (reply["total"], reply["data"]) == (4, [])


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("api_key", [None, "apk-wrong"])
async def test_missing_or_unknown_key_is_401(
    emu: Emulator, http: aiohttp.ClientSession, api_key: str | None
) -> None:
    """A missing or unknown api-key header is HTTP 401 "Invalid API key", and is recorded."""
    body = {"widget_uid": emu.widget_uid}
    headers = {} if api_key is None else {"api-key": api_key}
    status, reply = await post(http, emu, "createSession", body, headers=headers)
    assert (status, reply) == (401, {"type": "RXERROR", "message": "Invalid API key"})
    assert emu.requests == [RequestRecord("createSession", 401, None, False)]


async def test_widget_of_other_project_is_403(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """A widget that exists in another project is HTTP 403."""
    status, reply = await post(http, emu, "createSession", {"widget_uid": OTHER_WIDGET_UID})
    assert status == 403
    assert reply == {"type": "RXERROR", "message": "You do not have access to this widget"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "widget_uid"),
        ({"widget_uid": "no-such-widget"}, "widget_uid"),
        ({"widget_uid": DEFAULT_WIDGET_UID, "session_uid": "1"}, "message"),
        ({"widget_uid": DEFAULT_WIDGET_UID, "message": "x"}, "session_uid"),
        ({"widget_uid": DEFAULT_WIDGET_UID, "session_uid": "1", "message": " "}, "message"),
        (
            {"widget_uid": DEFAULT_WIDGET_UID, "session_uid": "1", "message": "x", "send_by": "x"},
            "send_by",
        ),
    ],
)
async def test_send_message_bad_fields_are_400(
    emu: Emulator, http: aiohttp.ClientSession, body: dict[str, str], field: str
) -> None:
    """Missing, empty or invalid sendMessage fields and unknown widgets are 400 with errors."""
    status, reply = await post(http, emu, "sendMessage", body)
    assert status == 400
    assert reply["type"] == "RXERROR"
    assert list(reply["errors"]) == [field]
    if "widget_uid" not in body:
        assert reply["message"] == "widget_uid is required"
        assert reply["errors"] == {"widget_uid": "widget_uid is required"}
    assert emu.ledger == []


async def test_unknown_session_is_rxerror_at_200(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """An unknown session is HTTP 200 carrying RXERROR "Session not found"."""
    expected = (200, {"type": "RXERROR", "message": "Session not found"})
    assert await send(http, emu, "17226012685401599", "x") == expected
    body = {"session_uid": "17226012685401599"}
    assert await post(http, emu, "getSessionMessages", body) == expected
    assert await post(http, emu, "updateSession", body) == expected


async def test_unknown_endpoint_and_method(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """An unknown endpoint is 404 and a GET is 405, both with RXERROR bodies."""
    status, reply = await post(http, emu, "deleteEverything", {})
    assert (status, reply["type"]) == (404, "RXERROR")
    async with http.get(f"{emu.base_url}/getSessions") as response:
        assert response.status == 405
        assert (await response.json())["type"] == "RXERROR"
    assert emu.request_count("deleteEverything") == 1


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"{not json", "text/plain"),
        (b"just some words", "text/plain"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
    ],
)
async def test_undecodable_body_is_400(
    emu: Emulator, http: aiohttp.ClientSession, payload: bytes, content_type: str
) -> None:
    """A body that is neither a JSON object nor a form is 400."""
    async with http.post(
        f"{emu.base_url}/createSession",
        data=payload,
        headers={"api-key": emu.api_key, "Content-Type": content_type},
    ) as response:
        assert response.status == 400
        assert (await response.json())["type"] == "RXERROR"


# -- rate limit -----------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_both_hints(http: aiohttp.ClientSession) -> None:
    """Past the burst a key gets 429 with Retry-After and retry-after-ms, until tokens refill."""
    clock = FakeClock()
    limit = EmulatorRateLimit(per_second=4, burst=2, retry_after="ms")
    async with Emulator(rate_limit=limit, clock=clock) as emu:
        uid = await new_session(http, emu)
        assert (await send(http, emu, uid, "a"))[0] == 200
        body = {"widget_uid": emu.widget_uid, "session_uid": uid, "message": "b"}
        async with http.post(
            f"{emu.base_url}/sendMessage", json=body, headers={"api-key": emu.api_key}
        ) as response:
            assert response.status == 429
            assert await response.json() == {"type": "RXERROR", "message": "Too many requests"}
            assert response.headers["Retry-After"] == "1"
            assert response.headers["retry-after-ms"] == "250"
        assert emu.delivered("b") == 0
        assert emu.count_status(429) == 1

        clock.now += 0.1  # 0.4 of a token: 150 ms to go
        status, _ = await send(http, emu, uid, "b")
        assert status == 429
        clock.now += 0.15
        assert (await send(http, emu, uid, "b"))[0] == 200
        assert emu.delivered("b") == 1
        # An unauthenticated request takes no token from anyone.
        assert (await post(http, emu, "getSessions", {}, headers={}))[0] == 401


# -- faults ---------------------------------------------------------------------------------


async def test_status_fault_is_not_processed(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """A status fault answers its code, RXERROR and Retry-After, and stores nothing."""
    uid = await new_session(http, emu)
    emu.fault_plan.add("sendMessage", Fault.status(503, retry_after=2), None)
    http_date = "Wed, 21 Oct 2015 07:28:00 GMT"
    emu.fault_plan.add("sendMessage", Fault.status(429, retry_after=http_date))
    body = {"widget_uid": emu.widget_uid, "session_uid": uid, "message": "hi"}
    headers = {"api-key": emu.api_key}
    async with http.post(f"{emu.base_url}/sendMessage", json=body, headers=headers) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "2"
        assert await response.json() == {"type": "RXERROR", "message": "Service Unavailable"}
    assert emu.ledger == []
    assert (await send(http, emu, uid, "hi"))[0] == 200
    async with http.post(f"{emu.base_url}/sendMessage", json=body, headers=headers) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == http_date
    assert emu.delivered("hi") == 1
    assert [r.fault for r in emu.requests[1:]] == ["status", None, "status"]


async def test_drop_before_stores_nothing_and_disconnects(
    emu: Emulator, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """drop_before closes the connection unanswered, stores nothing and logs no warning."""
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    uid = await new_session(http, emu)
    emu.fault_plan.add("sendMessage", Fault.drop_before())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await send(http, emu, uid, "lost")
    assert emu.ledger == []
    assert emu.requests[-1] == RequestRecord("sendMessage", None, "drop_before", True)
    assert emu.count_status(None) == 1
    assert (await send(http, emu, uid, "next"))[0] == 200
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_drop_after_stores_then_disconnects(
    emu: Emulator, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """drop_after processes the message (it is in the ledger) yet the client gets no reply."""
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    uid = await new_session(http, emu)
    emu.fault_plan.add("sendMessage", Fault.drop_after())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await send(http, emu, uid, "delivered?")
    assert emu.delivered("delivered?") == 1
    assert emu.requests[-1] == RequestRecord("sendMessage", None, "drop_after", True)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"
HTML_504 = "<html><body><h1>504 Gateway Timeout</h1></body></html>"
RXERROR_TEXT = '{"type": "RXERROR", "message": "Something went wrong"}'


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.html(), (502, "text/html", HTML_502)),
        (Fault.html(504), (504, "text/html", HTML_504)),
        (Fault.empty(), (200, "application/json", "")),
        (Fault.empty(502), (502, "application/json", "")),
        (Fault.wrong_shape(), (200, "application/json", "[1, 2]")),
        (Fault.rxerror(), (200, "application/json", RXERROR_TEXT)),
    ],
)
async def test_body_faults_are_not_processed(
    emu: Emulator, http: aiohttp.ClientSession, fault: Fault, expected: tuple[int, str, str]
) -> None:
    """html, empty, wrong_shape and rxerror answer their body and store nothing."""
    uid = await new_session(http, emu)
    emu.fault_plan.add("sendMessage", fault)
    body = {"widget_uid": emu.widget_uid, "session_uid": uid, "message": "hi"}
    headers = {"api-key": emu.api_key}
    async with http.post(f"{emu.base_url}/sendMessage", json=body, headers=headers) as response:
        assert (response.status, response.content_type, await response.text()) == expected
    assert emu.ledger == []


async def test_not_json_fault(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """not_json answers a text body that does not parse as JSON."""
    emu.fault_plan.add("getSessions", Fault.not_json(503))
    async with http.post(f"{emu.base_url}/getSessions", json={}) as response:
        assert (response.status, response.content_type) == (503, "text/plain")
        with pytest.raises(json.JSONDecodeError):
            json.loads(await response.text())


async def test_truncated_is_processed_and_cut(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """truncated processes the request, then answers 200 JSON with half of the reply."""
    uid = await new_session(http, emu)
    emu.fault_plan.add("sendMessage", Fault.truncated())
    body = {"widget_uid": emu.widget_uid, "session_uid": uid, "message": "hi"}
    headers = {"api-key": emu.api_key}
    async with http.post(f"{emu.base_url}/sendMessage", json=body, headers=headers) as response:
        assert (response.status, response.content_type) == (200, "application/json")
        text = await response.text()
    assert text.startswith('{"type": "RXSUCCESS"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert emu.delivered("hi") == 1


async def test_latency_fault_delays_then_processes(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """latency holds the request back, then processes it normally."""
    emu.fault_plan.add("createSession", Fault.latency(10))
    body = {"widget_uid": emu.widget_uid}
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(post(http, emu, "createSession", body), timeout=0.05)
    emu.fault_plan.add("createSession", Fault.latency(0.01))
    status, _ = await post(http, emu, "createSession", body)
    assert status == 200


async def test_plan_order_times_and_wildcard(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """Entries are taken in order, `times` repeats them, "*" serves when a queue is empty."""
    emu.fault_plan.add("getSessions", Fault.status(500), None, times=2)
    emu.fault_plan.add("*", Fault.status(502))
    statuses = [(await post(http, emu, "getSessions", {}))[0] for _ in range(6)]
    assert statuses == [500, 200, 500, 200, 502, 200]
    assert emu.fault_plan.pending() == 0
    assert emu.request_count("getSessions") == 6


async def test_concurrent_messages_get_unique_ids(http: aiohttp.ClientSession) -> None:
    """1,000 concurrent sendMessage calls, interleaved by ai_latency, are each stored once."""
    async with Emulator(ai_latency=0.001) as emu:
        uid = await new_session(http, emu)
        results = await asyncio.gather(*(send(http, emu, uid, f"m{i}") for i in range(1000)))
    assert [reply["data"]["message"] for _, reply in results] == [
        f"You said: m{i}" for i in range(1000)
    ]
    assert sorted(entry.message for entry in emu.ledger) == sorted(f"m{i}" for i in range(1000))
    ids = [entry.message_id for entry in emu.ledger] + [r["data"]["id"] for _, r in results]
    assert len(set(ids)) == 2000


async def test_ai_latency_stores_message_before_reply(http: aiohttp.ClientSession) -> None:
    """With ai_latency the user message is delivered before the (slow) AI reply exists."""
    async with Emulator(ai_latency=10) as emu:
        uid = await new_session(http, emu)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(send(http, emu, uid, "slow"), timeout=0.05)
        assert emu.delivered("slow") == 1


async def test_stop_cuts_off_requests_in_progress(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """stop() does not wait for a request held by a latency fault: its client is disconnected."""
    emu.fault_plan.add("getSessions", Fault.latency(10))
    request = asyncio.create_task(post(http, emu, "getSessions", {}))
    done, _ = await asyncio.wait({request}, timeout=0.05)
    assert not done
    await emu.stop()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await request
    assert emu.requests == [RequestRecord("getSessions", None, "latency", True)]


# -- plan parsing, lifecycle, command line --------------------------------------------------


def test_fault_plan_from_dict_and_file(tmp_path: Path) -> None:
    """from_dict and from_json_file build the same queues; bad data raises ValueError."""
    data: dict[str, Any] = {
        "sendMessage": [
            {"kind": "status", "status": 500, "retry_after": 3},
            None,
            {"kind": "drop_after"},
        ],
        "*": [{"kind": "latency", "seconds": 0.5}, {"kind": "html"}, {"kind": "rxerror"}],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    for plan in (FaultPlan.from_dict(data), FaultPlan.from_json_file(path)):
        assert plan.pending("sendMessage") == 3
        assert plan.next_fault("sendMessage") == Fault.status(500, retry_after=3)
        assert plan.next_fault("sendMessage") is None
        assert plan.next_fault("sendMessage") == Fault.drop_after()
        assert plan.next_fault("sendMessage") == Fault.latency(0.5)
        assert plan.next_fault("getSessions") == Fault.html(502)
        assert plan.next_fault("getSessions") == Fault.rxerror()
        assert plan.next_fault("getSessions") is None
    bad_plans: list[Any] = [
        {"sendMessage": [{"kind": "explode"}]},
        {"sendMessage": [{"kind": "status"}]},
        {"sendMessage": [{"kind": "drop_after", "status": 500}]},
        {"sendMessage": [{"kind": "status", "status": 1000}]},
        {"sendMessage": [{"kind": "latency", "seconds": -1}]},
        {"sendMessage": {"kind": "status", "status": 500}},
        {"sendMessage": [7]},
    ]
    for bad in bad_plans:
        with pytest.raises(ValueError, match="sendMessage"):
            FaultPlan.from_dict(bad)


def test_fault_constructors() -> None:
    """Fault constructors set their kind and reject out-of-range values."""
    assert Fault.status(429, retry_after=2).kind is FaultKind.STATUS
    assert Fault.latency(0.1).seconds == 0.1
    assert Fault.not_json().http_status == 200
    assert not Fault.html().kind.processes_request
    assert Fault.truncated().kind.processes_request
    with pytest.raises(ValueError, match="http_status"):
        Fault.status(42)
    with pytest.raises(ValueError, match="retry_after"):
        Fault.status(503, retry_after=-1)
    with pytest.raises(ValueError, match="at least one"):
        FaultPlan().add("sendMessage")


async def test_lifecycle_and_reset(http: aiohttp.ClientSession) -> None:
    """base_url exists only while serving, stop is idempotent, reset keeps sessions."""
    emu = Emulator(fault_plan=FaultPlan().add("getSessions", Fault.status(500)))
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    await emu.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/chatbot/v1", emu.base_url)
        assert emu.app.router is not None
        uid = await new_session(http, emu)
        await send(http, emu, uid, "hi")
        emu.reset()
        assert (emu.ledger, emu.requests, emu.fault_plan.pending()) == ([], [], 0)
        _, reply = await post(http, emu, "getSessions", {})
        assert reply["total"] == 1
    finally:
        await emu.stop()
        await emu.stop()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    with pytest.raises(RuntimeError):
        await emu.start()


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
async def test_command_line_serves_until_interrupted(tmp_path: Path) -> None:
    """`python -m yourgpt_async.testing` prints the settings, serves, and exits 0 on Ctrl-C."""
    plan = tmp_path / "plan.json"
    plan.write_text('{"getSessions": [{"kind": "status", "status": 503}]}', encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "yourgpt_async.testing",
        *("--port", "0", "--rate-limit", "100/5", "--fault-plan", str(plan)),
        *("--api-key", "apk-cli", "--widget-uid", "cli-widget"),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    try:
        settings: dict[str, str] = {}
        while "YOURGPT_WIDGET_UID" not in settings:
            line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
            assert line, "the emulator exited early"
            if match := re.fullmatch(r"export (\w+)=(\S+)\s*", line):
                settings[match[1]] = match[2]
        assert settings["YOURGPT_API_KEY"] == "apk-cli"
        assert settings["YOURGPT_WIDGET_UID"] == "cli-widget"
        headers = {"api-key": "apk-cli"}
        async with aiohttp.ClientSession(headers=headers) as http:
            url = settings["YOURGPT_BASE_URL"]
            async with http.post(f"{url}/getSessions", json={}) as response:
                assert response.status == 503
            async with http.post(f"{url}/createSession", json={"widget_uid": "cli-widget"}) as r:
                assert r.status == 200
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_every_answer_carries_a_request_id(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    """Successes, errors and faults all carry a distinct x-request-id, kept in the record."""
    emu.fault_plan.add("getSessions", Fault.html(502), Fault.status(429, retry_after=1))
    seen: list[str] = []
    for endpoint, headers in [
        ("createSession", {"api-key": emu.api_key}),  # 200
        ("getSessions", {"api-key": emu.api_key}),  # the HTML fault
        ("getSessions", {"api-key": emu.api_key}),  # the 429 fault
        ("getSessions", {"api-key": "apk-wrong"}),  # 401
        ("nope", {"api-key": emu.api_key}),  # 404
    ]:
        body = {"widget_uid": emu.widget_uid}
        async with http.post(f"{emu.base_url}/{endpoint}", json=body, headers=headers) as reply:
            seen.append(reply.headers["x-request-id"])
    assert [record.status for record in emu.requests] == [200, 502, 429, 401, 404]
    assert [record.request_id for record in emu.requests] == seen
    assert len(set(seen)) == len(seen)

"""The project key's execution logs, knowledge-base search and outbound calls: against the
emulator, and against small servers that check the exact request and send each reply shape
the public pages show."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _fakes import ClientFactory
from _hostile import KEY, SAMPLES, HostileServer, sample

from yourgpt_async import (
    AsyncClient,
    ConfigurationError,
    DeliveryUnknownError,
    ExecutionLog,
    KnowledgebaseHit,
    OutboundCall,
    PermissionDeniedError,
    RateLimit,
    RetryPolicy,
)
from yourgpt_async.testing import Emulator, Fault


@pytest.fixture
def wire(server: HostileServer) -> AsyncClient:
    """A client of the hostile server, sending nothing twice and pacing nothing."""
    return AsyncClient(
        KEY,
        widget_uid="w",
        base_url=server.base_url,
        retry=RetryPolicy(attempts=1),
        rate_limit=RateLimit(enabled=False),
    )


# -- execution logs ------------------------------------------------------------------------


async def test_execution_logs_list_what_the_bot_did_newest_first(
    client: AsyncClient, emulator: Emulator
) -> None:
    """Each AI answer is logged; the list is newest first unless asked, and filters by session."""
    first = (await client.create_session()).session_uid
    second = (await client.create_session()).session_uid
    await client.send_message(first, "one")
    await client.send_message(second, "two")
    await client.send_message(first, "three")
    page = await client.get_execution_logs()
    assert [log.session_uid for log in page] == [first, second, first]
    assert [log.id for log in page] == sorted((log.id for log in page), reverse=True)
    assert all(isinstance(log, ExecutionLog) and log.task == "ai_reply" for log in page)
    oldest_first = await client.get_execution_logs(order="ASC")
    assert [log.id for log in oldest_first] == [log.id for log in reversed(page.items)]
    only_first = await client.get_execution_logs(session_uid=first)
    assert {log.session_uid for log in only_first} == {first}
    assert len(only_first) == 2


async def test_execution_logs_page_through_every_entry(client: AsyncClient) -> None:
    """``iter_execution_logs`` and ``async for`` over a page walk every page."""
    uid = (await client.create_session()).session_uid
    for n in range(5):
        await client.send_message(uid, f"message {n}")
    page = await client.get_execution_logs(limit=2)
    assert len(page) == 2
    assert page.has_more
    walked = [log.id async for log in page]
    iterated = [log.id async for log in client.iter_execution_logs(limit=2)]
    assert walked == iterated
    assert len(walked) == 5


async def test_execution_log_query_is_sent_as_the_service_names_it(
    wire: AsyncClient, server: HostileServer
) -> None:
    """The query goes as JSON with the service's field names, the key only in its header."""
    server.reply = sample("getChatbotExecutionLogs.json")
    page = await wire.get_execution_logs(
        session_uid="17226012685401506",
        date_from="2024-08-01",
        date_to="2024-08-02",
        order="asc",
        page=2,
        limit=5,
    )
    request = server.requests[0]
    assert request.path == "/chatbot/v1/getChatbotExecutionLogs"
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers
    assert request.body == {
        "session_uid": "17226012685401506",
        "from": "2024-08-01",
        "to": "2024-08-02",
        "orderBy": "ASC",
        "page": 2,
        "limit": 5,
    }
    assert [log.session_uid for log in page] == ["17226012685401506"] * 2  # number and str
    assert page.items[0].details == {"order": "A-1042", "http_status": 200}
    assert page.items[1].raw["some_new_field_added_later"] == 1
    await wire.aclose()


async def test_execution_logs_refuse_bad_arguments_before_sending(
    wire: AsyncClient, server: HostileServer
) -> None:
    """Bad dates, order or page size are refused by name, with nothing sent."""
    bad: list[dict[str, Any]] = [
        {"date_from": "02/08/2024"},
        {"date_from": "2024-08-03", "date_to": "2024-08-01"},
        {"order": "newest"},
        {"limit": 101},
        {"session_uid": ""},
    ]
    for kwargs in bad:
        with pytest.raises(ConfigurationError):
            await wire.get_execution_logs(**kwargs)
    assert server.requests == []
    await wire.aclose()


# -- knowledge-base search -----------------------------------------------------------------


async def test_search_finds_the_best_chunks_first_and_pages_by_offset(
    client: AsyncClient, emulator: Emulator
) -> None:
    """Hits come best first; ``offset`` skips, ``node_id`` keeps one document."""
    shipping = emulator.add_document(
        "We ship to Norway in 3 to 5 days.\n\nReturns are free within 30 days."
    )
    emulator.add_document("Norway has fjords.")
    hits = await client.search_knowledgebase("ship to Norway")
    assert all(isinstance(hit, KnowledgebaseHit) for hit in hits)
    assert hits[0].content == "We ship to Norway in 3 to 5 days."
    assert hits[0].doc_id == str(shipping)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    norway = await client.search_knowledgebase("Norway")
    assert len(norway) == 2
    assert [h.point_id for h in await client.search_knowledgebase("Norway", offset=1)] == [
        norway[1].point_id
    ]
    one_document = await client.search_knowledgebase("Norway", node_id=str(shipping))
    assert {hit.doc_id for hit in one_document} == {str(shipping)}
    assert await client.search_knowledgebase("zebra") == []


async def test_search_on_a_plan_without_it_says_so(client: AsyncClient, emulator: Emulator) -> None:
    """A 403 from search is the plan lacking it, and the error says so."""
    emulator.set_plan(knowledgebase=False)
    with pytest.raises(PermissionDeniedError) as refused:
        await client.search_knowledgebase("Norway")
    assert "Professional plan" in str(refused.value)
    assert refused.value.attempts == 1


async def test_search_sends_only_what_was_given(wire: AsyncClient, server: HostileServer) -> None:
    """query and limit always, offset and node_id only when given; hits keep exact ids."""
    server.reply = sample("searchIndexDocument.json")
    hits = await wire.search_knowledgebase("reset password")
    await wire.search_knowledgebase("reset password", limit=3, offset=6, node_id="4411")
    assert server.requests[0].path == "/chatbot/v1/searchIndexDocument"
    assert server.requests[0].body == {"query": "reset password", "limit": 10}
    assert server.requests[1].body == {
        "query": "reset password",
        "limit": 3,
        "offset": 6,
        "node_id": "4411",
    }
    assert [(hit.doc_id, hit.score) for hit in hits] == [("4411", 0.8731), ("4407", 0.7912)]
    await wire.aclose()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query": ""},
        {"query": "x" * 5001},
        {"query": "ok", "limit": 0},
        {"query": "ok", "limit": 101},
        {"query": "ok", "offset": -1},
        {"query": "ok", "offset": True},
        {"query": 42},
    ],
)
async def test_search_refuses_bad_arguments_before_sending(
    wire: AsyncClient, server: HostileServer, kwargs: dict[str, Any]
) -> None:
    """A blank or too long query, a limit outside 1-100, a negative offset: refused, unsent."""
    query = kwargs.pop("query")
    with pytest.raises(ConfigurationError):
        await wire.search_knowledgebase(query, **kwargs)
    assert server.requests == []
    await wire.aclose()


# -- outbound calls ------------------------------------------------------------------------


async def test_an_outbound_call_is_placed_once(client: AsyncClient, emulator: Emulator) -> None:
    """A call is recorded in the emulator's ledger of calls, with what was sent."""
    placed = await client.make_outbound_call(
        "agent-7", "+4915112345678", extra_data={"contact_data": {"phone": "+4915112345678"}}
    )
    assert isinstance(placed, OutboundCall)
    assert placed.status == "queued"
    assert [(c.agent_id, c.call_to, c.call_id) for c in emulator.calls] == [
        ("agent-7", "+4915112345678", placed.call_id)
    ]
    assert emulator.calls[0].extra_data == {"contact_data": {"phone": "+4915112345678"}}


@pytest.mark.parametrize(
    "number", ["4915112345678", "+49 151 12345678", "+0123456789", "+1234567", "+1" + "2" * 15]
)
async def test_a_number_not_in_e164_is_refused_before_anything_is_sent(
    client: AsyncClient, emulator: Emulator, number: str
) -> None:
    """Without '+', with spaces, a leading 0, too short or too long: refused, nothing sent."""
    with pytest.raises(ConfigurationError, match=r"E\.164") as refused:
        await client.make_outbound_call("agent-7", number)
    assert repr(number) in str(refused.value)
    assert emulator.request_count() == 0


@pytest.mark.parametrize("fault", [Fault.drop_after(), Fault.status_after(502), Fault.truncated()])
@pytest.mark.parametrize("policy", ["default", "retry_unsafe"])
async def test_a_call_that_may_have_gone_through_is_never_placed_again(
    make_client: ClientFactory, emulator: Emulator, fault: Fault, policy: str
) -> None:
    """Lost after sending, even with retry_unsafe=True: DeliveryUnknownError, one call placed."""
    retry = RetryPolicy(retry_unsafe=policy == "retry_unsafe")
    client = make_client(retry=retry)
    emulator.fault_plan.add("makeOutboundCall", fault)
    with pytest.raises(DeliveryUnknownError) as unknown:
        await client.make_outbound_call("agent-7", "+4915112345678")
    assert len(emulator.calls) == 1
    assert emulator.request_count("makeOutboundCall") == 1
    assert "retry_outbound_calls" in str(unknown.value)
    assert "retry_unsafe" not in str(unknown.value)


async def test_only_the_opt_in_that_names_calls_places_one_again(
    make_client: ClientFactory, emulator: Emulator, fake_clock: Any
) -> None:
    """``retry_outbound_calls=True`` resends after a drop (and the person is rung twice)."""
    retry = RetryPolicy(retry_outbound_calls=True, sleep=fake_clock.sleep, clock=fake_clock.clock)
    client = make_client(retry=retry)
    emulator.fault_plan.add("makeOutboundCall", Fault.drop_after())
    await client.make_outbound_call("agent-7", "+4915112345678")
    assert len(emulator.calls) == 2


async def test_a_call_refused_before_processing_is_retried(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A 429 or 503 means the service did not act: the call is sent again, and placed once."""
    emulator.fault_plan.add("makeOutboundCall", Fault.status(503))
    emulator.fault_plan.add("makeOutboundCall", Fault.status(429, retry_after=1))
    await client.make_outbound_call("agent-7", "+4915112345678")
    assert len(emulator.calls) == 1
    assert emulator.request_count("makeOutboundCall") == 3


@pytest.mark.parametrize("reply", ["makeOutboundCall.json", "makeOutboundCall_no_data.json"])
async def test_a_call_decodes_with_or_without_data(
    wire: AsyncClient, server: HostileServer, reply: str
) -> None:
    """Both reply shapes give an OutboundCall; without data it holds what was asked."""
    server.reply = sample(reply)
    placed = await wire.make_outbound_call(
        "agt_77", "+4915112345678", extra_data={"contact_data": {"phone": "+4915112345678"}}
    )
    request = server.requests[0]
    assert request.path == "/chatbot/v1/makeOutboundCall"
    assert request.headers["api-key"] == KEY
    assert request.body == {
        "agent_id": "agt_77",
        "call_to": "+4915112345678",
        "extra_data": {"contact_data": {"phone": "+4915112345678"}},
    }
    assert (placed.agent_id, placed.call_to) == ("agt_77", "+4915112345678")
    data = json.loads((SAMPLES / reply).read_text()).get("data")
    assert placed.call_id == (data or {}).get("call_id")
    await wire.aclose()


async def test_extra_data_that_is_not_json_is_refused(
    wire: AsyncClient, server: HostileServer
) -> None:
    """extra_data must encode as a JSON object: a set or NaN inside is refused unsent."""
    for extra in ({"when": {1, 2}}, {"score": float("nan")}, ["not", "a", "mapping"]):
        with pytest.raises(ConfigurationError, match="extra_data"):
            await wire.make_outbound_call("agt_77", "+4915112345678", extra_data=extra)  # type: ignore[arg-type]
    assert server.requests == []
    await wire.aclose()


async def test_raw_responses_cover_the_new_endpoints(client: AsyncClient) -> None:
    """``with_raw_response`` gives status and request id for the three new methods too."""
    raw = await client.with_raw_response.get_execution_logs()
    assert raw.status == 200
    assert raw.request_id
    raw_search = await client.with_raw_response.search_knowledgebase("Norway")
    assert raw_search.parse() == []
    raw_call = await client.with_raw_response.make_outbound_call("a", "+4915112345678")
    assert raw_call.parse().status == "queued"

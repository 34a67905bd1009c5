"""Per-call options, views, headers, raw responses and pages that fetch the next one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from _fakes import ClientFactory
from aiohttp import web

from yourgpt_async import (
    AsyncClient,
    AsyncPlatformClient,
    ConfigurationError,
    Page,
    RateLimitInfo,
    RawResponse,
    RetryPolicy,
    ServerError,
    Session,
    Timeouts,
    TransportError,
)
from yourgpt_async.testing import Emulator, Fault

ONE_ATTEMPT = RetryPolicy(attempts=1)
SESSION = {"id": 1, "session_uid": "17226012685401506"}


@contextlib.asynccontextmanager
async def recording_server(
    replies: list[tuple[int, dict[str, str], dict[str, Any]]],
) -> AsyncIterator[tuple[str, list[Mapping[str, str]]]]:
    """A server that answers with ``replies`` in turn (the last one over and over) and keeps
    each request's headers."""
    seen: list[Mapping[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.copy())
        status, headers, body = replies[min(len(seen), len(replies)) - 1]
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/chatbot/v1/{endpoint}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/chatbot/v1", seen
    finally:
        await runner.cleanup()


def ok(data: object) -> tuple[int, dict[str, str], dict[str, Any]]:
    return 200, {}, {"type": "RXSUCCESS", "message": "ok", "data": data}


# -- timeouts ---------------------------------------------------------------------------------


async def test_per_call_timeout_ends_a_slow_attempt(
    client: AsyncClient, emulator: Emulator
) -> None:
    """timeout= on a call bounds that call's attempt; the client's own (60 s) stays for others."""
    emulator.fault_plan.add("getSessions", Fault.latency(2))
    with pytest.raises(TransportError):
        await client.get_sessions(timeout=0.05, retry=ONE_ATTEMPT)
    emulator.fault_plan.add("getSessions", Fault.latency(0.1))
    page = await client.get_sessions(timeout=Timeouts(total=5))
    assert page.page == 1


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "5", [5]])
async def test_bad_timeout_is_refused_before_any_request(
    client: AsyncClient, emulator: Emulator, bad: object
) -> None:
    """A timeout that is not a positive number of seconds or a Timeouts is a ConfigurationError,
    on a call and on with_options, before anything is sent."""
    with pytest.raises(ConfigurationError, match="timeout must be"):
        await client.get_sessions(timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="timeout must be"):
        client.with_options(timeout=bad)  # type: ignore[arg-type]
    assert emulator.request_count() == 0


def test_a_number_of_seconds_caps_every_timeout() -> None:
    """timeout=5 means 5 s for the whole attempt, and connecting and reading within it."""
    client = AsyncClient("apk-x", base_url="http://127.0.0.1:9/v1", timeout=5)
    assert client._caller.timeouts == Timeouts(total=5, connect=5, read=5)
    view = client.with_options(timeout=30)
    assert view._caller.timeouts == Timeouts(total=30, connect=10, read=30)


# -- views ------------------------------------------------------------------------------------


async def test_a_view_shares_the_session_limiter_and_gate(make_client: ClientFactory) -> None:
    """with_options returns a view using the client's transport: the same HTTP session,
    limiter and concurrency gate; closing the view leaves the client open, closing the client
    closes the view."""
    client = make_client()
    view = client.with_options(timeout=5, max_retries=0, headers={"X-Trace": "1"})
    await view.create_session()
    assert view._transport is client._transport
    assert view.limiter is client.limiter
    assert client._transport._session is not None  # opened by the view's call, for both
    await view.aclose()
    assert not client.closed
    await client.create_session()
    await client.aclose()
    assert view.closed
    with pytest.raises(RuntimeError, match="closed"):
        await view.create_session()
    assert repr(view).startswith("<AsyncClient view ")


async def test_max_retries_on_a_view(make_client: ClientFactory, emulator: Emulator) -> None:
    """max_retries=0 makes one attempt; the client itself keeps retrying."""
    client = make_client()
    emulator.fault_plan.add("getSessions", Fault.status(503), Fault.status(503))
    with pytest.raises(ServerError) as caught:
        await client.with_options(max_retries=0).get_sessions()
    assert caught.value.attempts == 1
    await client.get_sessions()  # one more 503, then success
    assert emulator.request_count("getSessions") == 3
    with pytest.raises(ConfigurationError, match="max_retries must be"):
        client.with_options(max_retries=-1)


async def test_views_of_views_add_up(make_client: ClientFactory) -> None:
    """A view's view keeps what the first changed and changes more."""
    client = make_client()
    patient = RetryPolicy(attempts=9)
    view = client.with_options(retry=patient).with_options(timeout=3, headers={"X-A": "1"})
    assert view._caller.retry is patient
    assert view._caller.timeouts.total == 3
    assert view.with_options(max_retries=2)._caller.retry.attempts == 3
    assert client._caller.retry.attempts == 4  # the client is untouched


async def test_headers_reach_the_service(make_client: ClientFactory) -> None:
    """default_headers and the user-agent suffix go with every request; a view's headers add to
    or replace them for the view's calls only."""
    async with recording_server([ok(SESSION)]) as (base_url, seen):
        client = make_client(
            base_url=base_url,
            default_headers={"X-Tenant": "acme", "X-Env": "test"},
            user_agent_suffix="my-app/1.2",
        )
        await client.create_session()
        await client.with_options(headers={"x-env": "staging", "X-Call": "7"}).create_session()
        await client.create_session()
    first, viewed, last = seen
    assert first["X-Tenant"] == "acme"
    assert first["X-Env"] == "test"
    assert first["User-Agent"].startswith("yourgpt-async/")
    assert first["User-Agent"].endswith(" my-app/1.2")
    assert first["Content-Type"] == "application/json"
    assert (viewed["X-Env"], viewed["X-Call"], viewed["X-Tenant"]) == ("staging", "7", "acme")
    assert viewed.getall("X-Env") == ["staging"]
    assert "X-Call" not in last
    assert last["X-Env"] == "test"
    assert first["api-key"] == viewed["api-key"] == last["api-key"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"api-key": "apk-other"}, "cannot set the header 'api-key': it carries the credential"),
        ({"Authorization": "Bearer x"}, "cannot set the header 'Authorization'"),
        ({"Content-Type": "text/plain"}, "cannot set the header 'Content-Type'"),
        ({"Transfer-Encoding": "chunked"}, "cannot set the header 'Transfer-Encoding': it frames"),
        ({"content-encoding": "gzip"}, "cannot set the header 'content-encoding': it frames"),
        ({"Content-Length": "10"}, "cannot set the header 'Content-Length': it frames"),
        ({"HOST": "evil.example"}, "cannot set the header 'HOST': the host is the base URL's"),
        ({"Bad Name": "x"}, "not a valid header name"),
        ({"X-Ok": "a\r\nX-Injected: 1"}, "control character 0xd"),
        ({"X-Ok": 5}, "must be a str"),
        (["X-Ok"], "must be a mapping"),
    ],
)
def test_bad_headers_are_refused(headers: object, message: str) -> None:
    """Headers the client sets itself (the credential's, the content type, the host, and what
    frames the body), malformed names and values that would split the header block are
    ConfigurationErrors naming the header, in both clients' constructors and in with_options."""
    local = "http://127.0.0.1:9/v1"
    for make in (AsyncClient, AsyncPlatformClient):
        with pytest.raises(ConfigurationError, match=message):
            make("apk-x", base_url=local, default_headers=headers)  # type: ignore[arg-type]
        client = make("apk-x", base_url=local)
        with pytest.raises(ConfigurationError, match=message):
            client.with_options(headers=headers)  # type: ignore[arg-type]


def test_bad_user_agent_suffix() -> None:
    """A blank suffix or one with a line break is refused."""
    for bad in ("", "  ", "app\n1"):
        with pytest.raises(ConfigurationError, match="user_agent_suffix"):
            AsyncClient("apk-x", base_url="http://127.0.0.1:9/v1", user_agent_suffix=bad)


# -- raw responses ----------------------------------------------------------------------------


async def test_raw_response_of_a_success(client: AsyncClient, emulator: Emulator) -> None:
    """with_raw_response gives the reply's status, headers, request id, timing and attempts,
    and parse() gives the same model the plain method returns."""
    session = await client.create_session()
    raw = await client.with_raw_response.send_message(session.session_uid, "Hi")
    assert isinstance(raw, RawResponse)
    assert raw.status == 200
    assert raw.request_id == emulator.requests[-1].request_id
    assert raw.headers["Content-Type"].startswith("application/json")
    assert raw.elapsed > 0
    assert (raw.attempts, raw.rate_limit) == (1, None)
    assert raw.wait >= 0
    assert raw.parse().message == "You said: Hi"
    assert emulator.delivered("Hi") == 1
    assert "Hi" not in repr(raw)


async def test_raw_response_after_a_retry_with_rate_limit_headers(
    make_client: ClientFactory,
) -> None:
    """A call retried after a 503 reports both attempts, and the figures of the rate-limit
    headers of the reply that succeeded."""
    limits = {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "17", "X-RateLimit-Reset": "1"}
    replies = [
        (503, {}, {"type": "RXERROR", "message": "busy"}),
        (200, {**limits, "x-request-id": "req-42"}, ok(SESSION)[2]),
    ]
    async with recording_server(replies) as (base_url, seen):
        client = make_client(base_url=base_url)
        raw = await client.with_raw_response.update_session("1", state="closed")
    assert len(seen) == 2
    assert (raw.status, raw.attempts, raw.request_id) == (200, 2, "req-42")
    assert raw.rate_limit == RateLimitInfo(limit=200, remaining=17, reset=1.0)
    assert isinstance(raw.parse(), Session)


def sent(emulator: Emulator, endpoint: str) -> list[str]:
    """The request ids the emulator gave to ``endpoint``'s requests, in order."""
    return [r.request_id for r in emulator.requests if r.endpoint == endpoint]


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.drop_after(), None), (Fault.status_after(502), 502)],
    ids=["lost-after-storing", "502-after-storing"],
)
async def test_a_reconciled_raw_send_reports_the_send_not_the_read_back(
    make_client: ClientFactory, emulator: Emulator, fault: Fault, status: int | None
) -> None:
    """reconcile=True, and the send's reply is lost (or a 502) after the message was stored:
    the read-back settles it, and the raw response is the send's, marked reconciled: its
    status and request id (none when no reply came), never the read-back's."""
    client = make_client(retry=RetryPolicy(reconcile=True, settle=0.5))
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", fault)
    raw = await client.with_raw_response.send_message(uid, "Cancel order 7")
    assert emulator.request_count("getSessionMessages") >= 1
    [send_id] = sent(emulator, "sendMessage")
    assert (raw.status, raw.reconciled) == (status, True)
    assert raw.request_id == (send_id if status else None)
    assert raw.request_id not in sent(emulator, "getSessionMessages")
    assert raw.parse().message == "You said: Cancel order 7"
    assert emulator.delivered("Cancel order 7") == 1


async def test_a_reconciled_raw_send_sent_again_reports_the_send_that_succeeded(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """reconcile=True, and the send was lost before storing: read back (not there), sent again;
    the raw response is the second send's reply, not the read-back's, and not reconciled."""
    client = make_client(retry=RetryPolicy(reconcile=True, settle=0.5))
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.drop_before())
    raw = await client.with_raw_response.send_message(uid, "Cancel order 8")
    lost, second = sent(emulator, "sendMessage")
    assert (raw.status, raw.reconciled, raw.request_id) == (200, False, second)
    assert raw.request_id != lost
    assert raw.request_id not in sent(emulator, "getSessionMessages")
    assert emulator.delivered("Cancel order 8") == 1


async def test_concurrent_raw_calls_each_see_their_own_reply(
    client: AsyncClient, emulator: Emulator
) -> None:
    """Raw calls made at once through one with_raw_response each get their own reply."""
    uid = (await client.create_session()).session_uid
    emulator.reset()
    raw = client.with_raw_response
    texts = [f"message {n}" for n in range(8)]
    replies = await asyncio.gather(*(raw.send_message(uid, text) for text in texts))
    assert [r.parse().message for r in replies] == [f"You said: {t}" for t in texts]
    ids = {r.request_id for r in replies}
    assert ids == {record.request_id for record in emulator.requests}
    assert len(ids) == len(texts)


async def test_raw_response_of_a_page_and_of_a_view(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """A raw get_sessions holds a Page that still fetches later pages; a view's raw calls keep
    the view's options."""
    client = make_client()
    for _ in range(3):
        await client.create_session()
    emulator.fault_plan.add("getSessions", Fault.latency(2))
    view = client.with_options(timeout=0.05, max_retries=0)
    with pytest.raises(TransportError):
        await view.with_raw_response.get_sessions()
    raw = await client.with_raw_response.get_sessions(limit=2)
    page = raw.parse()
    assert isinstance(page, Page)
    assert len([s async for s in page]) == 3


async def test_raw_method_signatures_and_errors(client: AsyncClient) -> None:
    """A raw method is named and documented like the method, and fails the same way."""
    method = client.with_raw_response.send_message
    assert method.__name__ == "send_message"
    assert method.__doc__ == AsyncClient.send_message.__doc__
    with pytest.raises(ConfigurationError, match="message must not be empty"):
        await method("1", "")


# -- pages ------------------------------------------------------------------------------------


async def test_a_page_iterates_over_every_later_page(
    client: AsyncClient, emulator: Emulator
) -> None:
    """`async for` over a page goes through it and every later page, one request per page;
    `for` and len() stay on the page itself."""
    uids = [(await client.create_session()).session_uid for _ in range(5)]
    emulator.reset()
    page = await client.get_sessions(limit=2)
    assert [s.session_uid for s in page] == uids[:2]
    assert len(page) == 2
    assert [s.session_uid async for s in page] == uids
    assert emulator.request_count("getSessions") == 3
    second = await client.get_sessions(page=2, limit=2)
    assert [s.session_uid async for s in second] == uids[2:]


async def test_get_next_page_until_the_last(client: AsyncClient, emulator: Emulator) -> None:
    """get_next_page fetches the following page with the same query, and gives None after the
    last without a request."""
    uid = (await client.create_session()).session_uid
    for n in range(3):
        await client.send_message(uid, f"note {n}", send_by="assistant")
    emulator.reset()
    first = await client.get_session_messages(uid, limit=2, order="DESC")
    second = await first.get_next_page()
    assert second is not None
    assert (second.page, second.limit, second.total) == (2, 2, 3)
    assert [m.message for m in [*first, *second]] == ["note 2", "note 1", "note 0"]
    assert await second.get_next_page() is None
    assert emulator.request_count("getSessionMessages") == 2


async def test_a_page_made_by_hand_cannot_fetch() -> None:
    """A Page built by hand has nowhere to fetch from: a clear error, unless it is the last."""
    assert await Page(items=(1,), page=1, limit=5).get_next_page() is None
    with pytest.raises(RuntimeError, match="not fetched by a client"):
        await Page(items=(1, 2), page=1, limit=2).get_next_page()


async def test_page_size_is_limit_everywhere(client: AsyncClient) -> None:
    """get_* and iter_* take the page size under one name, limit, checked the same way."""
    for call in (
        lambda: client.get_sessions(limit=101),
        lambda: client.iter_sessions(limit=101).__anext__(),
        lambda: client.get_session_messages("1", limit=0),
        lambda: client.iter_session_messages("1", limit=0).__anext__(),
    ):
        with pytest.raises(ConfigurationError, match="limit must be an int from 1 to 100"):
            await call()

"""Hostile replies and leaked secrets, each against a small server written here, not the
emulator: every reply ends as a result or a typed error, and no secret escapes."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import socket
import urllib.parse
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, TypeVar

import pytest
from _hostile import KEY, HostileServer, Reply, Request, http, leaks, reachable_text, success

from yourgpt_async import (
    AsyncClient,
    AsyncPlatformClient,
    AuthenticationError,
    ConfigurationError,
    DeliveryUnknownError,
    FailureKind,
    RateLimiterUnavailableError,
    RedisRateLimit,
    RetryPolicy,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    YourGPTError,
)
from yourgpt_async._cli import main
from yourgpt_async._endpoints import registry
from yourgpt_async._pagination import PageWalk
from yourgpt_async.testing import FaultPlan

T = TypeVar("T")
UID = "17226012685401506"
DEEP = b'{"type": "RXSUCCESS", "data": ' + b"[" * 3000 + b"]" * 3000 + b"}"

Captured = pytest.CaptureFixture[str]


def client_for(server: HostileServer, **options: Any) -> AsyncClient:
    kwargs: dict[str, Any] = {"widget_uid": "w-1", "base_url": server.base_url, **options}
    kwargs.setdefault("retry", RetryPolicy(attempts=2, sleep=_no_sleep))
    return AsyncClient(KEY, **kwargs)


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


# -- replies ---------------------------------------------------------------------------------


async def test_deep_nesting_is_an_unreadable_reply(server: HostileServer) -> None:
    """JSON nested 3,000 deep: sendMessage is delivered-but-unreadable and never resent;
    an idempotent read is an UnexpectedResponseError of kind UNREADABLE."""
    server.reply = http(DEEP)
    async with client_for(server) as client:
        with pytest.raises(DeliveryUnknownError) as sent:
            await client.send_message(UID, "hi")
        assert server.count("sendMessage") == 1
        assert isinstance(sent.value.__cause__, UnexpectedResponseError)
        assert sent.value.__cause__.kind is FailureKind.UNREADABLE
        with pytest.raises(UnexpectedResponseError) as read:
            await client.get_sessions()
    assert read.value.kind is FailureKind.UNREADABLE


async def test_an_oversized_success_of_a_send_is_settled_by_reading_back(
    server: HostileServer,
) -> None:
    """sendMessage answered 200 with a body over max_response_bytes: in doubt, not failed, so
    with reconcile=True the session is read back and the message found there returned."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    stored = [{"id": 1, "send_by": "user", "message": "order 7", "createdAt": now}]

    def reply(request: Request) -> bytes:
        if request.endpoint == "sendMessage":
            return success({"id": 1, "message": "x" * 10_000})
        return success(stored)

    server.reply = reply
    policy = RetryPolicy(reconcile=True, settle=0, sleep=_no_sleep)
    async with client_for(server, retry=policy, max_response_bytes=2048) as client:
        answer = await client.send_message(UID, "order 7")
        with pytest.raises(DeliveryUnknownError) as unsettled:
            await client.send_message(UID, "order 7", retry=RetryPolicy(sleep=_no_sleep))
    assert (answer.id, answer.message, answer.send_by) == (1, "order 7", "user")
    assert server.count("sendMessage") == 2  # one each: never resent
    assert server.count("getSessionMessages") == 1
    assert isinstance(unsettled.value.__cause__, UnexpectedResponseError)


@pytest.mark.parametrize(
    "number", ["Infinity", "-Infinity", "1e400", "NaN", "1" * 5000], ids=lambda n: n[:8]
)
async def test_out_of_range_numbers_decode_to_none(server: HostileServer, number: str) -> None:
    """An id the service sends as Infinity, 1e400, NaN or 5,000 digits decodes to None."""
    body = '{"type": "RXSUCCESS", "data": {"id": %s, "message": "hi", "session_uid": 1}}'
    server.reply = http(body % number)
    async with client_for(server) as client:
        reply = await client.send_message(UID, "hi")
        session = await client.create_session()
    assert (reply.id, reply.message, reply.session_uid) == (None, "hi", "1")
    assert session.id is None


@pytest.mark.parametrize(
    "stamp", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "not a date"]
)
async def test_out_of_range_dates_decode_to_none(server: HostileServer, stamp: str) -> None:
    """A timestamp outside what a UTC datetime can hold decodes to None, kept in raw."""
    server.reply = success({"session_uid": UID, "createdAt": stamp, "updated_at": stamp})
    async with client_for(server) as client:
        session = await client.create_session()
    assert (session.created_at, session.updated_at) == (None, None)
    assert session.raw["createdAt"] == stamp


async def test_float_session_uid_keeps_its_exact_digits(server: HostileServer) -> None:
    """session_uid sent as the float 1.7226012685401506e16, exactly 17226012685401506."""
    server.reply = http(b'{"type": "RXSUCCESS", "data": {"session_uid": 1.7226012685401506e16}}')
    async with client_for(server) as client:
        session = await client.create_session()
        message = await client.send_message(UID, "hi")
    assert session.session_uid == "17226012685401506"
    assert message.session_uid == "17226012685401506"


async def test_send_many_goes_on_past_hostile_replies(server: HostileServer) -> None:
    """Deep nesting and Infinity on some items: one outcome each, the run is not aborted."""
    replies = iter([http(DEEP), http(b'{"type": "RXSUCCESS", "data": {"id": Infinity}}')])
    server.reply = lambda _: next(replies, success({"id": 7, "message": "ok"}))
    async with client_for(server) as client:
        outcomes = [
            o async for o in client.send_many([(UID, f"m{i}") for i in range(4)], concurrency=1)
        ]
    assert [o.status for o in sorted(outcomes, key=lambda o: o.index)] == [
        "in_doubt",
        "sent",
        "sent",
        "sent",
    ]
    assert server.count("sendMessage") == 4


def test_cli_send_reports_a_hostile_reply_without_a_traceback(
    server: HostileServer, capsys: Captured
) -> None:
    """`send` on a 3,000-deep reply exits 1 with one line saying what happened."""
    server.reply = http(DEEP)
    code = main(
        ["--api-key", KEY, "--base-url", server.base_url, "--widget-uid", "w", "send", UID, "hi"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    assert "may or may not have taken effect" in err


def _alternating(total: int | None) -> Any:
    """A server that ignores `page` past 2: pages 1, 2, 1, 2, ... with `total` items claimed."""

    def reply(request: Request) -> bytes:
        page = 1 + (request.body["page"] - 1) % 2
        items = [{"id": page * 1000 + i, "session_uid": f"{page}-{i}"} for i in range(2)]
        return success(items, **({} if total is None else {"total": total}))

    return reply


@pytest.mark.parametrize("total", [10**9, None])
async def test_pages_that_repeat_stop_the_walk(server: HostileServer, total: int | None) -> None:
    """Alternating pages with total=10^9 (or none): two pages of items, three requests."""
    server.reply = _alternating(total)
    async with client_for(server) as client:
        messages = [m.id for m in await first(client.iter_session_messages(UID, limit=2))]
        sessions = [s.session_uid for s in await first(client.iter_sessions(limit=2))]
    assert messages == [1000, 1001, 2000, 2001]
    assert sessions == ["1-0", "1-1", "2-0", "2-1"]
    assert server.count("getSessionMessages") == server.count("getSessions") == 3


async def first(items: AsyncIterator[T], most: int = 50) -> list[T]:
    """The items of an async iterator, at most `most` of them (an endless one fails the test)."""
    taken = [item async for item in aislice(items, most)]
    assert len(taken) < most, "the walk did not stop"
    return taken


async def aislice(items: AsyncIterator[T], most: int) -> AsyncIterator[T]:
    count = 0
    async for item in items:
        yield item
        count += 1
        if count == most:
            return


class _Page:
    def __init__(self, items: tuple[object, ...], total: int | None, has_more: bool) -> None:
        self.items, self.total, self.has_more = items, total, has_more


def test_page_walk_rules() -> None:
    """The stop rules as a pure function: empty, repeated, last by has_more, past total."""
    walk = PageWalk()
    assert not walk.is_new(_Page((), 10, True))
    assert walk.is_new(_Page((1, 2), 10**9, True))
    assert not walk.is_last(_Page((1, 2), 10**9, True))
    assert walk.is_new(_Page((3, 4), 10**9, True))
    assert not walk.is_new(_Page((1, 2), 10**9, True))  # any earlier page, not just the last
    assert walk.is_new(_Page((5,), 5, True))
    assert walk.is_last(_Page((5,), 5, True))  # 5 items yielded of a total of 5
    assert walk.is_last(_Page((6,), None, False))
    assert walk.items == 5


# -- secrets ---------------------------------------------------------------------------------

_INVALID_HTTP = {
    "bad-status-line": b"HTTP/1.1 2x0 " + KEY.encode() + b"\r\n\r\n",
    "oversized-header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    "bad-content-length": b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + KEY.encode(),
    "short-body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",
}


@pytest.mark.parametrize("reply", _INVALID_HTTP.values(), ids=_INVALID_HTTP.keys())
async def test_invalid_http_never_carries_the_key(server: HostileServer, reply: bytes) -> None:
    """Invalid HTTP or an oversized header: a TransportError, and no string reachable from it
    (its cause and context included) holds the key, though aiohttp's error kept the headers."""
    server.reply = reply
    async with client_for(server) as client:
        for call in (lambda: client.send_message(UID, "hi"), client.get_sessions):
            with pytest.raises(YourGPTError) as caught:
                await call()
            error = caught.value
            assert isinstance(error, TransportError)
            assert leaks(error) == []
            assert error.__context__ is None or isinstance(error.__context__, YourGPTError)


@pytest.mark.parametrize("key", ["apk\x7fKEY", "apk\x0bKEY", "apk\x0cKEY", "apk\x85KEY"])
def test_control_characters_in_the_key_are_refused(
    server: HostileServer, key: str, capsys: Captured
) -> None:
    """A key with a control character is a ConfigurationError before any I/O, without the key;
    the CLI exits 2 with one line."""
    with pytest.raises(ConfigurationError, match="control character") as caught:
        AsyncClient(key, base_url=server.base_url)
    assert "KEY" not in str(caught.value)
    code = main(["--api-key", key, "--base-url", server.base_url, "send", UID, "hi"])
    err = capsys.readouterr().err
    assert (code, "Traceback" in err, "KEY" in err) == (2, False, False)
    assert server.count() == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_redis_password_in_the_query_is_hidden(server: HostileServer) -> None:
    """A Redis password given as ?password= is in no repr, warning or error."""
    password = "hunter2-query-secret"
    url = f"redis://127.0.0.1:{_closed_port()}/0?password={password}&db=0"
    failing = RedisRateLimit(url, name="p", per_second=50, on_redis_error="fail")
    local = RedisRateLimit(url, name="p", per_second=50)
    texts = [repr(failing), repr(failing.make_limiter())]
    server.reply = success({"id": 1})
    async with client_for(server, rate_limit=failing) as client:
        with pytest.raises(RateLimiterUnavailableError) as caught:
            await client.send_message(UID, "hi")
        texts += leaks(caught.value, password)
    async with client_for(server, rate_limit=local) as client:
        with pytest.warns(RuntimeWarning, match="paces itself alone") as warned:
            await client.send_message(UID, "hi")
        texts += [str(w.message) for w in warned]
    assert "?password=***&db=0" in texts[0]
    assert [text for text in texts if password in text] == []


def _echo(request: Request) -> bytes:
    """Every error channel a service has, each echoing the key it was sent."""
    key = request.headers["api-key"]
    if request.endpoint == "getSessions":  # an HTML page, the key cut at the excerpt's end
        return http("x" * 180 + key, status=502, headers=[("Content-Type", "text/html")])
    body = {"type": "RXERROR", "message": f"bad key {key}", "errors": {key: [key, {"k": key}]}}
    return http(body, status=401, headers=[("x-request-id", key), ("Content-Type", key)])


async def test_an_echoed_key_is_scrubbed_from_errors(server: HostileServer) -> None:
    """A service echoing the key in its message, field errors, request id, content type and an
    HTML page: the errors hold *** instead, everywhere."""
    server.reply = _echo
    async with client_for(server) as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.send_message(UID, "hi")
        with pytest.raises(ServerError) as html:
            await client.get_sessions()
    assert leaks(refused.value) == leaks(html.value) == []
    assert refused.value.message == "bad key ***"
    assert refused.value.request_id == "***"
    assert html.value.excerpt.endswith("x***")


def test_an_echoed_key_reaches_no_output_file_or_journal(
    server: HostileServer, tmp_path: Any, capsys: Captured
) -> None:
    """bulk against a service echoing the key: not in stdout, stderr, --output or the journal."""
    server.reply = lambda request: http(
        {"type": "RXERROR", "message": f"no {request.headers['api-key']}"}, status=400
    )
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"session_uid": UID, "message": "hi"}) + "\n")
    output, journal = tmp_path / "out.jsonl", tmp_path / "journal.jsonl"
    argv = ["--api-key", KEY, "--base-url", server.base_url, "--widget-uid", "w", "bulk"]
    code = main([*argv, str(source), "--output", str(output), "--journal", str(journal)])
    captured = capsys.readouterr()
    assert code == 1
    texts = [captured.out, captured.err, output.read_text(), journal.read_text()]
    assert [text for text in texts if KEY in text] == []
    assert "no ***" in output.read_text()


# -- the credential in any encoding ---------------------------------------------------------

# Credentials with the characters each encoding changes ("/" for JSON, "+" and "&" for
# percent-encoding, "<" and "'" for HTML), for both families.
ODD_KEY = "apk-Ho/st+ile=key&<'0123456789"
ODD_TOKEN = "tok-Or/g+token=&<'9876543210"


def encodings(secret: str) -> dict[str, str]:
    """The credential as a service or a proxy may echo it back, one form per encoding."""
    raw = secret.encode()
    return {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "json-slash": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "json-unicode": "".join(f"\\u{ord(c):04x}" for c in secret),
        "quote": urllib.parse.quote(secret, safe=""),
        "quote-plus": urllib.parse.quote_plus(secret),
        "html": html.escape(secret),
        "base64": base64.b64encode(raw).decode(),
        "base64-url": base64.urlsafe_b64encode(raw).decode(),
        "base64-bearer": base64.b64encode(b"Bearer " + raw).decode(),
        "base64-basic": base64.urlsafe_b64encode(b"user:" + raw).decode(),
    }


def shows(texts: list[str], form: str) -> list[str]:
    """The texts holding the middle half of ``form``: enough of it to read the secret back."""
    middle = form[len(form) // 4 : 3 * len(form) // 4]
    return [text for text in texts if middle in text]


def _echo_encoded(form: str) -> Reply:
    """A service echoing ``form`` everywhere: a refusal's message, field errors and headers; an
    HTML 502 page; a success's x-request-id and another header."""

    def reply(request: Request) -> bytes:
        headers = [("x-request-id", form), ("X-Echo", f"seen {form}")]
        if request.endpoint in ("getSessions", "getMyProjects"):
            return http({"type": "RXSUCCESS", "data": []}, headers=headers)
        if request.endpoint in ("createSession", "createChatbot"):
            page = f"<html><p>{form}</p></html>"
            return http(page, status=502, headers=[("Content-Type", "text/html"), *headers])
        body = {"type": "RXERROR", "message": f"bad {form}", "errors": {form: [form]}}
        return http(body, status=401, headers=headers)

    return reply


@pytest.mark.parametrize("family", ["project", "platform"])
@pytest.mark.parametrize("encoding", list(encodings(ODD_KEY)))
async def test_an_echoed_credential_is_hidden_in_every_encoding(
    server: HostileServer, caplog: pytest.LogCaptureFixture, family: str, encoding: str
) -> None:
    """A service echoing the key or the token raw, JSON-escaped, percent-encoded, HTML-escaped
    or in base64: no error (str, repr, excerpt, body, cause), DEBUG log line, hook event or raw
    response holds it."""
    secret = ODD_KEY if family == "project" else ODD_TOKEN
    form = encodings(secret)[encoding]
    server.reply = _echo_encoded(form)
    events: list[Any] = []
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "retry": RetryPolicy(attempts=1),
        "on_response": events.append,
        "on_request": events.append,
    }
    errors: list[BaseException] = []
    caplog.set_level(logging.DEBUG, logger="yourgpt_async")
    if family == "project":
        client: Any = AsyncClient(secret, widget_uid="w-1", **options)
        calls = [client.create_session, lambda: client.send_message(UID, "hi")]
        read = client.with_raw_response.get_sessions
    else:
        client = AsyncPlatformClient(secret, **options)
        calls = [lambda: client.projects.create("p"), client.models.list]
        read = client.with_raw_response.projects.list
    async with client:
        for call in calls:
            with pytest.raises(YourGPTError) as caught:
                await call()
            errors.append(caught.value)
        raw = await read()
    texts = [caplog.text, repr(raw), str(raw.request_id), repr(dict(raw.headers))]
    texts += [text for error in errors for text in reachable_text(error)]
    texts += [repr(event) + repr(getattr(event, "headers", "")) for event in events]
    assert server.count() == len(calls) + 1
    assert "***" in str(raw.request_id)
    assert shows(texts, form) == []


# -- smaller ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["send_message", "sendMesage", "sendmessage", ""])
def test_a_fault_plan_refuses_unknown_endpoints(name: str) -> None:
    """A misspelt endpoint would never fire: it raises, listing every declared name."""
    with pytest.raises(ValueError, match="a fault plan takes one of") as refused:
        FaultPlan().add(name, None)
    assert all(f"{endpoint!r}" in str(refused.value) for endpoint in [*registry(), "*"])
    with pytest.raises(ValueError, match=f"unknown endpoint {name!r}"):
        FaultPlan.from_dict({name: [None]})
    FaultPlan().add("sendMessage", None).add("*", None)  # the valid ones still work


def test_a_client_reused_in_a_second_event_loop_says_so(server: HostileServer) -> None:
    """asyncio.run() twice with one client: our RuntimeError saying what to do, not aiohttp's
    "Event loop is closed"; closing it afterwards is quiet."""
    server.reply = success({"session_uid": UID})
    client = client_for(server)
    assert asyncio.run(client.create_session()).session_uid == UID
    with pytest.raises(RuntimeError, match="first used in another event loop") as caught:
        asyncio.run(client.create_session())
    assert "asyncio.run()" in str(caught.value)
    assert server.count() == 1
    asyncio.run(client.aclose())

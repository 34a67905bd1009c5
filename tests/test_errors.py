"""The exception tree and how replies map onto it, over real HTTP; the API key never leaks."""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _fakes import ClientFactory
from aiohttp import web

import yourgpt_async
from yourgpt_async import (
    APIError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectError,
    DeliveryUnknownError,
    FailureKind,
    NotFoundError,
    NotSentError,
    PermissionDeniedError,
    RateLimitError,
    RateLimiterUnavailableError,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    YourGPTError,
    _exceptions,
)
from yourgpt_async._wire import SEND_MESSAGE, decode_reply
from yourgpt_async.testing import OTHER_WIDGET_UID, Emulator, Fault

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAMPLES = Path(__file__).parent / "samples"
UNKNOWN_UID = "99999999999999999"
ONE_ATTEMPT = RetryPolicy(attempts=1)

# The documented tree (DESIGN.md, _exceptions' docstring): each class and its parent.
TREE: dict[type[BaseException], type[BaseException]] = {
    YourGPTError: Exception,
    ConfigurationError: YourGPTError,
    NotSentError: YourGPTError,
    RateLimiterUnavailableError: YourGPTError,
    TransportError: YourGPTError,
    ConnectError: TransportError,
    DeliveryUnknownError: TransportError,
    APIError: YourGPTError,
    BadRequestError: APIError,
    AuthenticationError: APIError,
    PermissionDeniedError: APIError,
    NotFoundError: APIError,
    RateLimitError: APIError,
    ResponseTooLargeError: UnexpectedResponseError,
    ServerError: APIError,
    UnexpectedResponseError: APIError,
}


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """Serve `handler` for every path on a loopback port; yield a base URL like the API's."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/chatbot/v1"
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- the tree ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "parent"), TREE.items(), ids=lambda c: c.__name__)
def test_exception_is_where_the_tree_puts_it(
    cls: type[BaseException], parent: type[BaseException]
) -> None:
    """Each exception's first base is its parent in the documented tree."""
    assert cls.__bases__[0] is parent
    assert issubclass(cls, YourGPTError)


def test_configuration_error_is_a_value_error() -> None:
    """ConfigurationError is also a ValueError, for generic input validation."""
    assert issubclass(ConfigurationError, ValueError)


def test_every_exported_exception_is_in_the_tree() -> None:
    """The exported exceptions are exactly the documented tree, drawn in the module docstring."""
    exported = {
        getattr(yourgpt_async, name)
        for name in yourgpt_async.__all__
        if isinstance(getattr(yourgpt_async, name), type)
        and issubclass(getattr(yourgpt_async, name), BaseException)
    }
    assert exported == set(TREE)
    docstring = _exceptions.__doc__ or ""
    assert all(cls.__name__ in docstring for cls in TREE)


# -- API errors from the emulator -------------------------------------------------------------


async def test_400_carries_field_errors(client: AsyncClient, emulator: Emulator) -> None:
    """A 400 with `errors` is a BadRequestError with those fields on .errors and in str()."""
    uid = (await client.create_session()).session_uid
    with pytest.raises(BadRequestError) as caught:
        await client.send_message(uid, "hi", widget_uid="not-a-widget")
    error = caught.value
    assert (error.status, error.endpoint, error.attempts) == (400, "sendMessage", 1)
    assert error.errors == {"widget_uid": "widget_uid is invalid"}
    assert error.body == {
        "type": "RXERROR",
        "message": "widget_uid is invalid",
        "errors": error.errors,
    }
    assert "widget_uid: widget_uid is invalid" in str(error)
    assert emulator.ledger == []


async def test_wrong_key_is_an_authentication_error(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """An unknown key gets HTTP 401: AuthenticationError, raised at once (not retried)."""
    client = make_client(api_key="apk-not-the-right-one")
    with pytest.raises(AuthenticationError) as caught:
        await client.get_sessions()
    assert (caught.value.status, caught.value.message) == (401, "Invalid API key")
    assert emulator.request_count() == 1


async def test_other_projects_widget_is_permission_denied(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A widget of another project gets HTTP 403: PermissionDeniedError, not retried."""
    with pytest.raises(PermissionDeniedError) as caught:
        await client.create_session(widget_uid=OTHER_WIDGET_UID)
    assert caught.value.status == 403
    assert emulator.request_count() == 1


async def test_wrong_base_path_is_not_found(make_client: ClientFactory, emulator: Emulator) -> None:
    """A base_url with the wrong path gets HTTP 404: NotFoundError (check base_url)."""
    client = make_client(base_url=emulator.base_url.replace("/chatbot/v1", "/chatbot/v9"))
    with pytest.raises(NotFoundError) as caught:
        await client.get_sessions()
    assert (caught.value.status, caught.value.endpoint) == (404, "getSessions")


async def test_rxerror_at_200_is_an_api_error(client: AsyncClient, emulator: Emulator) -> None:
    """An RXERROR envelope with HTTP 200 is still an error (status 200), raised at once; a text
    the service is not known to send is a BadRequestError, and its message has no "HTTP 200"."""
    emulator.fault_plan.add("getSessions", Fault.rxerror("Quota exceeded"))
    with pytest.raises(BadRequestError, match="Quota exceeded") as caught:
        await client.get_sessions()
    assert caught.value.status == 200
    assert str(caught.value) == "getSessions: Quota exceeded"
    assert emulator.request_count("getSessions") == 1  # not retried


async def test_unknown_session_is_not_found(client: AsyncClient, emulator: Emulator) -> None:
    """ "Session not found" (RXERROR at HTTP 200) is a NotFoundError whose message names the
    endpoint and says what to check, carrying the emulator's request id."""
    with pytest.raises(NotFoundError) as caught:
        await client.send_message(UNKNOWN_UID, "hi")
    error = caught.value
    assert (error.status, error.message, error.endpoint) == (
        200,
        "Session not found",
        "sendMessage",
    )
    assert str(error).startswith("sendMessage: Session not found; check session_uid")
    assert "HTTP" not in str(error)
    assert error.request_id is not None
    assert error.request_id == emulator.requests[-1].request_id
    assert emulator.request_count("sendMessage") == 1  # refused: not retried


@pytest.mark.parametrize(
    ("status", "text", "expected", "hint"),
    [
        (200, "Session not found", NotFoundError, "check session_uid"),
        (200, "session not found.", NotFoundError, "check session_uid"),
        (200, "Invalid API key", AuthenticationError, "check the API key"),
        (200, "You do not have access to this widget", PermissionDeniedError, "check widget_uid"),
        (200, "Something went wrong", BadRequestError, ""),
        (400, "Session not found", BadRequestError, "check session_uid"),
        (401, "Unauthorized", AuthenticationError, "check the API key"),
        (404, "Endpoint not found", NotFoundError, "check base_url"),
        (502, "Bad gateway", ServerError, "try again later"),
    ],
)
def test_rxerror_texts_map_to_the_class_a_caller_catches(
    status: int, text: str, expected: type[APIError], hint: str
) -> None:
    """decode_reply: at HTTP 200 a known RXERROR text picks the class, otherwise the status
    does; either way the known text or the status gives the advice."""
    body = json.dumps({"type": "RXERROR", "message": text}).encode()
    error = decode_reply(SEND_MESSAGE, status, {"x-request-id": "req-1"}, body)
    assert type(error) is expected
    assert isinstance(error, APIError)
    assert (error.message, error.request_id) == (text, "req-1")
    assert hint in error.hint
    assert bool(error.hint) == bool(hint)
    assert str(error).endswith(error.hint)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, APIError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
async def test_status_maps_to_its_class(
    make_client: ClientFactory, emulator: Emulator, status: int, expected: type[APIError]
) -> None:
    """Each HTTP status of an RXERROR reply raises its documented class, with .status set."""
    emulator.fault_plan.add("getSessions", Fault.status(status, message="nope"))
    client = make_client(retry=ONE_ATTEMPT)
    with pytest.raises(APIError) as caught:
        await client.get_sessions()
    assert type(caught.value) is expected
    assert (caught.value.status, caught.value.message) == (status, "nope")


async def test_429_carries_retry_after(make_client: ClientFactory, emulator: Emulator) -> None:
    """A 429's Retry-After (seconds) is on the RateLimitError as retry_after."""
    emulator.fault_plan.add("getSessions", Fault.status(429, retry_after=7))
    with pytest.raises(RateLimitError) as caught:
        await make_client(retry=ONE_ATTEMPT).get_sessions()
    assert caught.value.retry_after == 7.0


async def test_server_error_after_send_is_delivery_unknown(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A 500 to sendMessage is DeliveryUnknownError (a TransportError), not a ServerError."""
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.status(500))
    with pytest.raises(DeliveryUnknownError) as caught:
        await client.send_message(uid, "maybe")
    assert caught.value.endpoint == "sendMessage"
    assert "HTTP 500" in str(caught.value)
    assert emulator.request_count("sendMessage") == 1


async def test_dropped_after_processing_is_delivery_unknown(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A connection dropped after the message was stored raises DeliveryUnknownError once."""
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.drop_after())
    with pytest.raises(DeliveryUnknownError):
        await client.send_message(uid, "did it arrive?")
    assert emulator.delivered("did it arrive?") == 1
    assert emulator.request_count("sendMessage") == 1


async def test_dropped_read_is_a_transport_error(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """A dropped connection on a read endpoint is a TransportError with its endpoint."""
    emulator.fault_plan.add("getSessions", Fault.drop_before())
    with pytest.raises(TransportError) as caught:
        await make_client(retry=ONE_ATTEMPT).get_sessions()
    assert caught.value.endpoint == "getSessions"
    assert not isinstance(caught.value, ConnectError)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get_sessions(), id="get_sessions"),
        pytest.param(lambda c: c.send_message(UNKNOWN_UID, "hi"), id="send_message"),
    ],
)
async def test_refused_connection_is_a_connect_error(
    make_client: ClientFactory, call: Callable[[AsyncClient], Awaitable[Any]]
) -> None:
    """Nothing listening is a ConnectError (never sent, so safe), for sendMessage too."""
    client = make_client(base_url=f"http://127.0.0.1:{closed_port()}/chatbot/v1", retry=ONE_ATTEMPT)
    with pytest.raises(ConnectError) as caught:
        await call(client)
    assert caught.value.attempts == 1


# -- replies that are not the envelope --------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "excerpt_start"),
    [
        pytest.param(Fault.html(502), 502, "<html><body><h1>502 Bad Gateway", id="html"),
        pytest.param(Fault.html(200), 200, "<html>", id="html-200"),
        pytest.param(Fault.empty(), 200, "", id="empty"),
        pytest.param(Fault.empty(500), 500, "", id="empty-500"),
        pytest.param(Fault.not_json(), 200, "The service is temporarily", id="not-json"),
        pytest.param(Fault.truncated(), 200, '{"type": "RXSUCCESS"', id="truncated"),
        pytest.param(Fault.wrong_shape(), 200, "[1, 2]", id="wrong-shape"),
    ],
)
async def test_unexpected_reply(
    make_client: ClientFactory, emulator: Emulator, fault: Fault, status: int, excerpt_start: str
) -> None:
    """HTML, empty, non-JSON, truncated and reshaped replies are UnexpectedResponseError."""
    emulator.fault_plan.add("getSessions", fault)
    with pytest.raises(UnexpectedResponseError) as caught:
        await make_client(retry=ONE_ATTEMPT).get_sessions()
    error = caught.value
    assert error.status == status
    assert error.excerpt.startswith(excerpt_start)
    assert len(error.excerpt) <= 200
    if excerpt_start:
        assert "body starts:" in str(error)


async def test_truncated_send_is_not_resent(client: AsyncClient, emulator: Emulator) -> None:
    """A cut-off 200 to a stored message is delivered-but-unreadable: DeliveryUnknownError,
    caused by the UnexpectedResponseError, and never resent."""
    uid = (await client.create_session()).session_uid
    emulator.fault_plan.add("sendMessage", Fault.truncated())
    with pytest.raises(DeliveryUnknownError) as caught:
        await client.send_message(uid, "once")
    assert isinstance(caught.value.__cause__, UnexpectedResponseError)
    assert caught.value.__cause__.kind is FailureKind.UNREADABLE
    assert "probably delivered" in str(caught.value)
    assert emulator.delivered("once") == 1


async def test_excerpt_of_a_long_page_is_short(make_client: ClientFactory) -> None:
    """A long HTML error page yields a short excerpt, not the whole page."""
    page = "<html>" + "x" * 20_000 + "</html>"

    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=500, text=page, content_type="text/html")

    async with serve(handler) as base_url:
        with pytest.raises(UnexpectedResponseError) as caught:
            await make_client(base_url=base_url, retry=ONE_ATTEMPT).get_sessions()
    assert caught.value.status == 500
    assert caught.value.excerpt == page[:200]
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("endpoint", "data"),
    [("createSession", []), ("createSession", None), ("getSessions", {"id": 1})],
)
async def test_success_envelope_with_wrong_data_is_unexpected(
    make_client: ClientFactory, endpoint: str, data: Any
) -> None:
    """An RXSUCCESS whose data has the wrong shape for the endpoint is UnexpectedResponseError."""

    async def handler(_: web.Request) -> web.Response:
        return web.json_response({"type": "RXSUCCESS", "message": "ok", "data": data})

    async with serve(handler) as base_url:
        client = make_client(base_url=base_url, retry=ONE_ATTEMPT)
        call = client.create_session() if endpoint == "createSession" else client.get_sessions()
        with pytest.raises((UnexpectedResponseError, DeliveryUnknownError)) as caught:
            await call
    error = caught.value
    if endpoint == "createSession":  # not idempotent: the session was probably made
        assert isinstance(error, DeliveryUnknownError)
        error = error.__cause__
    assert isinstance(error, UnexpectedResponseError)
    assert (error.status, error.endpoint, error.kind) == (200, endpoint, FailureKind.UNREADABLE)


@pytest.mark.parametrize(
    ("sample", "status", "expected"),
    [
        ("error_400.json", 400, BadRequestError),
        ("error_401.json", 401, AuthenticationError),
        ("error_403.json", 403, PermissionDeniedError),
        ("error_200_rxerror.json", 200, NotFoundError),
    ],
)
async def test_sample_error_bodies(
    make_client: ClientFactory, sample: str, status: int, expected: type[APIError]
) -> None:
    """The spec's sample error replies map to their classes, with message and field errors."""
    body = json.loads((SAMPLES / sample).read_text(encoding="utf-8"))

    async def handler(_: web.Request) -> web.Response:
        return web.json_response(body, status=status)

    async with serve(handler) as base_url:
        with pytest.raises(APIError) as caught:
            await make_client(base_url=base_url, retry=ONE_ATTEMPT).get_sessions()
    assert type(caught.value) is expected
    assert (caught.value.status, caught.value.message) == (status, body["message"])
    assert caught.value.errors == body.get("errors", {})


# -- size cap ---------------------------------------------------------------------------------


async def test_reply_over_the_size_cap_is_refused(make_client: ClientFactory) -> None:
    """A reply larger than max_response_bytes is an UnexpectedResponseError, not read."""
    client = make_client(max_response_bytes=64)
    with pytest.raises(UnexpectedResponseError, match="max_response_bytes=64") as caught:
        await client.create_session()
    assert caught.value.status == 200


async def test_an_oversized_reply_is_not_retried(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    """A reply over the cap would be as large again: even a read endpoint does not retry it."""
    client = make_client(max_response_bytes=16)
    with pytest.raises(ResponseTooLargeError) as caught:
        await client.get_sessions()
    assert caught.value.attempts == 1
    assert emulator.request_count("getSessions") == 1


@pytest.mark.parametrize(("size", "fits"), [(10_000, False), (10, True)])
async def test_chunked_reply_is_capped_while_streaming(
    make_client: ClientFactory, size: int, fits: bool
) -> None:
    """A reply without Content-Length is read only up to the cap; a small one still decodes."""
    body = json.dumps({"type": "RXSUCCESS", "message": "x" * size, "data": []}).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 100):
            await response.write(body[start : start + 100])
        await response.write_eof()
        return response

    async with serve(handler) as base_url:
        client = make_client(base_url=base_url, retry=ONE_ATTEMPT, max_response_bytes=1024)
        if fits:
            assert (await client.get_sessions()).items == ()
        else:
            with pytest.raises(UnexpectedResponseError, match="max_response_bytes=1024"):
                await client.get_sessions()


async def test_compressed_reply_is_capped_after_decompression(make_client: ClientFactory) -> None:
    """A small gzip body that inflates past max_response_bytes is refused (no zip bomb)."""
    envelope = json.dumps({"type": "RXSUCCESS", "message": "ok", "data": []}).encode()
    compressed = gzip.compress(envelope + b" " * 1_000_000)

    async def handler(_: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=compressed, headers=headers)

    async with serve(handler) as base_url:
        client = make_client(base_url=base_url, retry=ONE_ATTEMPT, max_response_bytes=65536)
        with pytest.raises(UnexpectedResponseError, match="max_response_bytes=65536"):
            await client.get_sessions()
    assert len(compressed) < 65536  # the cap is on what is decoded, not what is on the wire


# -- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("with_body", [True, False], ids=["text-body", "no-body"])
async def test_redirect_is_not_followed(
    make_client: ClientFactory, status: int, with_body: bool
) -> None:
    """A redirect is an UnexpectedResponseError saying so; the other host gets nothing."""
    key = "apk-redirect-key-0000"
    hits: list[dict[str, str]] = []
    redirects: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        hits.append(dict(request.headers))
        return web.json_response({"type": "RXSUCCESS", "message": "ok", "data": []})

    async with serve(elsewhere) as other_url:

        async def redirect(request: web.Request) -> web.Response:
            redirects.append(request.path)
            text = f"{status}: Moved" if with_body else None
            return web.Response(status=status, text=text, headers={"Location": other_url})

        async with serve(redirect) as base_url:
            client = make_client(api_key=key, base_url=base_url)
            with pytest.raises(UnexpectedResponseError) as caught:
                await client.get_sessions()
    assert caught.value.status == status
    assert "redirect" in str(caught.value)
    assert redirects == ["/chatbot/v1/getSessions"]  # answered once, not retried
    assert hits == []
    assert not any(key in str(value) for value in redirects)


# -- the key never leaks ----------------------------------------------------------------------

SECRET = "apk-SECRET-do-not-leak-12345"


def everything_about(error: BaseException) -> str:
    """str, repr and attributes of an exception and of every cause and context behind it."""
    parts = traceback.format_exception(type(error), error, error.__traceback__)
    link: BaseException | None = error
    while link is not None:
        parts += [str(link), repr(link), repr(getattr(link, "__dict__", {}))]
        link = link.__cause__ or link.__context__
    return "\n".join(parts)


async def test_api_key_never_leaks(  # noqa: PLR0915 - every error path in one place, so none is missed
    caplog: pytest.LogCaptureFixture, fake_clock: Any, make_client: ClientFactory
) -> None:
    """Across every error path, no exception, repr, log line or URL contains the API key."""
    caplog.set_level(logging.DEBUG)  # every logger: the client's, aiohttp's, the emulator's
    caplog.set_level(logging.DEBUG, logger="yourgpt_async")
    sent: list[tuple[str, dict[str, str]]] = []

    async def on_request_start(_: object, __: object, params: Any) -> None:
        sent.append((str(params.url), dict(params.headers)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    errors: list[BaseException] = []
    texts: list[str] = []

    async def expect_error(call: Awaitable[Any]) -> None:
        try:
            await call
        except YourGPTError as error:
            errors.append(error)
        else:
            pytest.fail("expected an error")

    retry = RetryPolicy(attempts=3, sleep=fake_clock.sleep, clock=fake_clock.clock)
    async with (
        Emulator(api_keys={SECRET: "project-1"}) as emu,
        aiohttp.ClientSession(trace_configs=[trace]) as http,
    ):
        client = make_client(api_key=SECRET, base_url=emu.base_url, session=http, retry=retry)
        texts += [repr(client), str(client)]
        uid = (await client.create_session()).session_uid

        for endpoint, call in [
            ("sendMessage", lambda: client.send_message(uid, "hi")),
            ("getSessions", client.get_sessions),
        ]:
            faults = [
                Fault.status(400),
                Fault.status(401),
                Fault.status(403),
                Fault.status(404),
                Fault.status(500),
                Fault.status(502),
                Fault.status(504),
                Fault.html(),
                Fault.empty(),
                Fault.not_json(),
                Fault.truncated(),
                Fault.wrong_shape(),
                Fault.rxerror(),
                Fault.drop_before(),
                Fault.drop_after(),
            ]
            for fault in faults:
                emu.fault_plan.add(endpoint, fault, times=3)
                await expect_error(call())
                emu.fault_plan.clear()
            emu.fault_plan.add(endpoint, Fault.status(429, retry_after=1), times=3)
            await expect_error(call())
            emu.fault_plan.add(endpoint, Fault.status(503), times=3)
            await expect_error(call())

        await expect_error(client.send_message(uid, "hi", widget_uid="not-a-widget"))
        await expect_error(client.create_session(widget_uid=OTHER_WIDGET_UID))
        await expect_error(client.send_message(UNKNOWN_UID, "hi"))
        await expect_error(client.get_sessions(limit=0))
        wrong = make_client(api_key=SECRET + "-wrong", base_url=emu.base_url, session=http)
        await expect_error(wrong.get_sessions())
        async with aiohttp.ClientSession(raise_for_status=True) as strict_http:
            strict = make_client(api_key=SECRET, base_url=emu.base_url, session=strict_http)
            await expect_error(strict.send_message(uid, "hi", widget_uid="not-a-widget"))
        small = make_client(
            api_key=SECRET, base_url=emu.base_url, session=http, max_response_bytes=16
        )
        await expect_error(small.get_sessions())
        nowhere = f"http://127.0.0.1:{closed_port()}/chatbot/v1"
        refused = make_client(api_key=SECRET, base_url=nowhere, session=http, retry=retry)
        await expect_error(refused.get_sessions())

        async def redirect(_: web.Request) -> web.Response:
            return web.Response(status=307, headers={"Location": f"{emu.base_url}/getSessions"})

        async with serve(redirect) as redirecting_url:
            moved = make_client(api_key=SECRET, base_url=redirecting_url, session=http)
            await expect_error(moved.get_sessions())

        for bad in [
            {"base_url": "http://example.com"},
            {"base_url": "https://u:p@example.com"},
            {"max_concurrency": 0},
        ]:
            with pytest.raises(ConfigurationError) as caught:
                AsyncClient(SECRET, **bad)
            errors.append(caught.value)
        await client.aclose()
        texts += [repr(client), str(client)]

    assert {type(error) for error in errors} >= {  # every kind an HTTP call can end in
        ConfigurationError,
        ConnectError,
        DeliveryUnknownError,
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        ServerError,
        UnexpectedResponseError,
    }
    assert "retrying" in caplog.text  # the retry log lines were captured and checked
    assert sent
    assert all(headers["api-key"] in (SECRET, SECRET + "-wrong") for _, headers in sent)
    texts += [everything_about(error) for error in errors]
    texts += [caplog.text, *(url for url, _ in sent)]
    texts += [str({k: v for k, v in headers.items() if k != "api-key"}) for _, headers in sent]
    leaks = [text for text in texts if SECRET in text]
    assert leaks == []

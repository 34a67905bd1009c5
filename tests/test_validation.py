"""Bad input raises ConfigurationError naming the bad value, before any I/O."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from _fakes import ClientFactory

from yourgpt_async import (
    AsyncClient,
    ConfigurationError,
    RateLimit,
    RetryPolicy,
    SessionState,
    Timeouts,
)
from yourgpt_async.testing import Emulator

UID = "17226012685401506"
Call = Callable[[AsyncClient], Awaitable[Any]]


def first(iterator: Any) -> Awaitable[Any]:
    """Run an async iterator up to its first item (validation happens on the first step)."""
    return anext(iterator)


# (the call, a fragment of the message that names the bad value)
BAD_CALLS: list[Any] = [
    # send_message
    pytest.param(lambda c: c.send_message(UID, ""), "''", id="empty-message"),
    pytest.param(lambda c: c.send_message(UID, " \n\t "), "' \\n\\t '", id="blank-message"),
    pytest.param(lambda c: c.send_message(UID, None), "None", id="message-none"),
    pytest.param(lambda c: c.send_message(UID, 42), "42", id="message-int"),
    pytest.param(lambda c: c.send_message(UID, b"hi"), "b'hi'", id="message-bytes"),
    pytest.param(lambda c: c.send_message(UID, "hi", send_by="robot"), "'robot'", id="send-by"),
    pytest.param(lambda c: c.send_message(UID, "hi", send_by=None), "None", id="send-by-none"),
    pytest.param(lambda c: c.send_message("", "hi"), "session_uid", id="empty-session-uid"),
    pytest.param(lambda c: c.send_message(None, "hi"), "None", id="session-uid-none"),
    pytest.param(lambda c: c.send_message(True, "hi"), "True", id="session-uid-bool"),
    pytest.param(lambda c: c.send_message(UID, "hi", widget_uid=" "), "' '", id="blank-widget"),
    # update_session
    pytest.param(lambda c: c.update_session(UID), "nothing to update", id="update-nothing"),
    pytest.param(lambda c: c.update_session(UID, state="done"), "'done'", id="state"),
    pytest.param(lambda c: c.update_session(UID, chat_mode="human"), "'human'", id="chat-mode"),
    pytest.param(
        lambda c: c.update_session(UID, state=SessionState.RESOLVED, chat_mode="bot"),
        "resolved",
        id="resolved-with-chat-mode",
    ),
    pytest.param(
        lambda c: c.update_session(UID, state="RESOLVED", chat_mode="operator"),
        "resolved",
        id="resolved-uppercase-with-chat-mode",
    ),
    pytest.param(lambda c: c.update_session(UID, segment="x" * 256), "256", id="segment-long"),
    pytest.param(
        lambda c: c.update_session(UID, segment=["a" * 200, "b" * 60]), "261", id="segment-list"
    ),
    pytest.param(lambda c: c.update_session(UID, segment=["a", 1]), "['a', 1]", id="segment-int"),
    pytest.param(lambda c: c.update_session("", state="closed"), "''", id="update-empty-uid"),
    # get_sessions
    pytest.param(lambda c: c.get_sessions(limit=0), "0", id="limit-0"),
    pytest.param(lambda c: c.get_sessions(limit=101), "101", id="limit-101"),
    pytest.param(lambda c: c.get_sessions(limit=True), "True", id="limit-bool"),
    pytest.param(lambda c: c.get_sessions(limit="10"), "'10'", id="limit-str"),
    pytest.param(lambda c: c.get_sessions(page=0), "0", id="page-0"),
    pytest.param(lambda c: c.get_sessions(page=-1), "-1", id="page-negative"),
    pytest.param(lambda c: c.get_sessions(page=1.0), "1.0", id="page-float"),
    pytest.param(lambda c: c.get_sessions(order="UP"), "'UP'", id="order"),
    pytest.param(lambda c: c.get_sessions(order=1), "1", id="order-int"),
    pytest.param(lambda c: c.get_sessions(date_from="2024-13-01"), "'2024-13-01'", id="month-13"),
    pytest.param(lambda c: c.get_sessions(date_from="yesterday"), "'yesterday'", id="date-word"),
    pytest.param(lambda c: c.get_sessions(date_to="02/08/2024"), "'02/08/2024'", id="date-us"),
    pytest.param(lambda c: c.get_sessions(date_to=20240802), "20240802", id="date-int"),
    pytest.param(lambda c: c.get_sessions(view_id="3"), "'3'", id="view-id-str"),
    pytest.param(lambda c: c.get_sessions(filters="state=closed"), "'state=closed'", id="filt-str"),
    pytest.param(
        lambda c: c.get_sessions(filters={"key": "state", "operator": "=", "value": "x"}),
        "{'key': 'state'",
        id="filters-dict",
    ),
    pytest.param(
        lambda c: c.get_sessions(filters=[{"key": "state"}]), "{'key': 'state'}", id="no-operator"
    ),
    pytest.param(lambda c: c.get_sessions(filters=[42]), "42", id="filter-not-dict"),
    pytest.param(lambda c: c.get_sessions(retry=3), "3", id="retry-not-policy"),
    # get_session_messages
    pytest.param(lambda c: c.get_session_messages(UID, limit=101), "101", id="msgs-limit"),
    pytest.param(lambda c: c.get_session_messages(UID, page=0), "0", id="msgs-page"),
    pytest.param(lambda c: c.get_session_messages(UID, order="new"), "'new'", id="msgs-order"),
    pytest.param(lambda c: c.get_session_messages(""), "''", id="msgs-empty-uid"),
    # the iterators
    pytest.param(lambda c: first(c.iter_sessions(limit=0)), "0", id="iter-page-size"),
    pytest.param(lambda c: first(c.iter_sessions(order="x")), "'x'", id="iter-order"),
    pytest.param(lambda c: first(c.iter_sessions(filters=[7])), "7", id="iter-filters"),
    pytest.param(lambda c: first(c.iter_sessions(date_from="x")), "'x'", id="iter-date"),
    pytest.param(
        lambda c: c.get_sessions(date_from="2024-05-02", date_to="2024-05-01"),
        "2024-05-02",
        id="dates-reversed",
    ),
    pytest.param(
        lambda c: first(c.iter_session_messages(UID, limit=101)), "101", id="iter-msgs-size"
    ),
    pytest.param(lambda c: first(c.iter_session_messages(None)), "None", id="iter-msgs-uid"),
]


@pytest.mark.parametrize(("call", "named"), BAD_CALLS)
async def test_bad_call_argument_fails_before_io(
    client: AsyncClient, emulator: Emulator, call: Call, named: str
) -> None:
    """A bad argument raises ConfigurationError (a ValueError) naming it; nothing is sent."""
    with pytest.raises(ConfigurationError) as caught:
        await call(client)
    assert isinstance(caught.value, ValueError)
    assert named in str(caught.value)
    assert emulator.requests == []
    assert client._transport._session is None  # not even an HTTP session was opened


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.create_session(), id="create_session"),
        pytest.param(lambda c: c.send_message(UID, "hi"), id="send_message"),
    ],
)
async def test_missing_widget_uid_fails_before_io(
    make_client: ClientFactory,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    call: Call,
) -> None:
    """Without a widget uid (argument, call or YOURGPT_WIDGET_UID) the calls that need one fail."""
    monkeypatch.delenv("YOURGPT_WIDGET_UID", raising=False)
    client = make_client(widget_uid=None)
    with pytest.raises(ConfigurationError, match="YOURGPT_WIDGET_UID") as caught:
        await call(client)
    assert "widget_uid" in str(caught.value)
    assert emulator.requests == []
    assert client._transport._session is None


# -- the constructor --------------------------------------------------------------------------

LOCAL = "http://127.0.0.1:9/chatbot/v1"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        pytest.param({"max_concurrency": 0}, "0", id="max-concurrency-0"),
        pytest.param({"max_concurrency": -4}, "-4", id="max-concurrency-negative"),
        pytest.param({"max_concurrency": True}, "True", id="max-concurrency-bool"),
        pytest.param({"max_concurrency": 2.5}, "2.5", id="max-concurrency-float"),
        pytest.param({"max_response_bytes": 0}, "0", id="max-response-bytes"),
        pytest.param({"base_url": "http://example.com"}, "'example.com'", id="plain-http"),
        pytest.param({"base_url": "http://10.0.0.1/v1"}, "'10.0.0.1'", id="http-lan"),
        pytest.param(
            {"base_url": "http://localhost.example.com/v1"}, "localhost.example.com", id="http-lh"
        ),
        pytest.param({"base_url": "ftp://127.0.0.1/v1"}, "scheme 'ftp'", id="ftp"),
        pytest.param({"base_url": "api.yourgpt.ai/v1"}, "start with https://", id="no-scheme"),
        pytest.param({"base_url": 443}, "got a int", id="base-url-int"),
        pytest.param({"base_url": ""}, "empty", id="base-url-empty"),
        pytest.param({"timeout": -5}, "-5", id="timeout-negative"),
        pytest.param({"timeout": "5"}, "'5'", id="timeout-str"),
        pytest.param({"retry": 3}, "3", id="retry-number"),
        pytest.param({"rate_limit": 10}, "10", id="rate-limit-number"),
        pytest.param({"session": "http"}, "'http'", id="session-str"),
        pytest.param({"widget_uid": ""}, "''", id="widget-empty"),
        pytest.param({"widget_uid": 1.5}, "1.5", id="widget-float"),
    ],
)
def test_bad_constructor_argument(kwargs: dict[str, Any], named: str) -> None:
    """A bad setting fails at construction with ConfigurationError naming the value."""
    arguments = {"api_key": "apk-x", "widget_uid": "w", "base_url": LOCAL, **kwargs}
    with pytest.raises(ConfigurationError) as caught:
        AsyncClient(**arguments)
    assert isinstance(caught.value, ValueError)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://user:hunter2@api.example.com/v1",
        "https://:hunter2@api.example.com/v1",
        "https://api.example.com/v1?api-key=hunter2",
        "https://api.example.com/v1#hunter2",
        "http://user:hunter2@api.example.com/v1",
        "http://api.example.com/v1?api_key=hunter2",
    ],
)
def test_base_url_with_credentials_is_refused_without_echoing_them(base_url: str) -> None:
    """Credentials, a query or a fragment in base_url are refused, and not repeated back."""
    with pytest.raises(ConfigurationError, match="must not carry") as caught:
        AsyncClient("apk-x", base_url=base_url)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "api.example.com/v1?api_key=hunter2",
        "ftp://user:hunter2@api.example.com/v1",
        "https://",
        "hunter2",
        "apk-hunter2:xyz",
        "//user:hunter2@api.example.com/v1",
    ],
)
def test_a_base_url_error_never_repeats_the_url(base_url: str) -> None:
    """Whatever is wrong with base_url, the error says what without repeating the URL, so a
    secret in it (a password, a query, a key pasted by mistake) never reaches a message."""
    with pytest.raises(ConfigurationError, match="base_url") as caught:
        AsyncClient("apk-x", base_url=base_url)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8089/chatbot/v1",
        "http://localhost:8089/chatbot/v1",
        "http://[::1]:8089/chatbot/v1",
        "https://api.example.com/chatbot/v1/",
    ],
)
def test_loopback_http_and_any_https_are_accepted(base_url: str) -> None:
    """Plain http is allowed to loopback only; https anywhere; a trailing slash is dropped."""
    assert AsyncClient("apk-x", base_url=base_url).base_url == base_url.rstrip("/")


@pytest.mark.parametrize(
    "api_key",
    ["", "   ", " apk-padded", "apk-with\nnewline", "apk-nul\0", 12345],
    ids=["empty", "blank", "padded", "newline", "nul", "int"],
)
def test_malformed_key_is_refused_without_echoing_it(api_key: Any) -> None:
    """A malformed key is a ConfigurationError whose message does not contain the key."""
    with pytest.raises(ConfigurationError, match="api_key") as caught:
        AsyncClient(api_key, base_url=LOCAL)
    if str(api_key).strip():
        assert str(api_key).strip() not in str(caught.value)


# -- the configuration objects ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "kwargs", "named"),
    [
        (RetryPolicy, {"attempts": 0}, "RetryPolicy.attempts"),
        (RetryPolicy, {"attempts": True}, "RetryPolicy.attempts"),
        (RetryPolicy, {"attempts": 2.0}, "RetryPolicy.attempts"),
        (RetryPolicy, {"initial_backoff": 0}, "RetryPolicy.initial_backoff"),
        (RetryPolicy, {"initial_backoff": -1.0}, "RetryPolicy.initial_backoff"),
        (RetryPolicy, {"max_backoff": 0}, "RetryPolicy.max_backoff"),
        (RetryPolicy, {"deadline": 0}, "RetryPolicy.deadline"),
        (RetryPolicy, {"deadline": float("nan")}, "RetryPolicy.deadline"),
        (RetryPolicy, {"deadline": "90"}, "RetryPolicy.deadline"),
        (RateLimit, {"per_second": 0}, "RateLimit.per_second"),
        (RateLimit, {"per_second": -5.0}, "RateLimit.per_second"),
        (RateLimit, {"burst": 0}, "RateLimit.burst"),
        (RateLimit, {"burst": True}, "RateLimit.burst"),
        (RateLimit, {"burst": 1.5}, "RateLimit.burst"),
        (RateLimit, {"initial_per_second": 0}, "RateLimit.initial_per_second"),
        (RateLimit, {"min_per_second": 0}, "RateLimit.min_per_second"),
        (RateLimit, {"increase": 0}, "RateLimit.increase"),
        (RateLimit, {"decrease": 1}, "RateLimit.decrease"),
        (RateLimit, {"decrease": 0}, "RateLimit.decrease"),
        (Timeouts, {"total": 0}, "Timeouts.total"),
        (Timeouts, {"connect": -1}, "Timeouts.connect"),
        (Timeouts, {"read": "60"}, "Timeouts.read"),
    ],
    ids=lambda value: None if isinstance(value, (type, str)) else str(value),
)
def test_bad_configuration_object(factory: Any, kwargs: dict[str, Any], named: str) -> None:
    """A bad RetryPolicy, RateLimit or Timeouts value fails naming the setting and the value."""
    with pytest.raises(ConfigurationError) as caught:
        factory(**kwargs)
    assert isinstance(caught.value, ValueError)
    assert named in str(caught.value)
    (value,) = kwargs.values()
    assert repr(value) in str(caught.value)


def test_configuration_objects_accept_none_where_documented() -> None:
    """None means "no limit" for timeouts and "adaptive" for the rate; both are valid."""
    assert Timeouts(total=None, connect=None, read=None).total is None
    assert RateLimit(per_second=None).is_adaptive
    assert not RateLimit(per_second=10).is_adaptive
    assert not RateLimit.unlimited().is_adaptive
    assert RetryPolicy.no_retry().attempts == 1

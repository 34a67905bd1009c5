"""Random replies to every endpoint: random bytes, random HTTP framing and headers, random JSON.

Whatever comes back, a call ends within its deadline with a result or a ``YourGPTError``, and
no string reachable from the error holds the API key (the replies echo it often). Every reply
the fuzzing ever found a fault with is kept in ``fuzz_corpus/replies.json`` and replayed by
:func:`test_corpus_reply`, so that each case found stays found: when the fuzz test fails, add
the reply it prints (``reply_b64``) to that file with a name and what it showed.

The suite runs a few dozen examples; fuzz longer with ``YOURGPT_FUZZ_EXAMPLES=5000``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _fakes import FakeClock
from _hostile import KEY, HostileServer, leaks
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from yourgpt_async import (
    AsyncClient,
    Message,
    Page,
    RateLimit,
    RetryPolicy,
    Session,
    Timeouts,
    YourGPTError,
)

CORPUS = Path(__file__).parent / "fuzz_corpus" / "replies.json"
DEADLINE = 5.0  # the retry policy's, on the fake clock
WALL = 3.0  # real seconds a call may take: every reply here comes at once
UID = "17226012685401506"

Call = Callable[[AsyncClient], Awaitable[object]]
CALLS: dict[str, tuple[Call, type]] = {
    "createSession": (lambda c: c.create_session(), Session),
    "sendMessage": (lambda c: c.send_message(UID, "hi"), Message),
    "updateSession": (lambda c: c.update_session(UID, segment="a"), Session),
    "getSessions": (lambda c: c.get_sessions(), Page),
    "getSessionMessages": (lambda c: c.get_session_messages(UID), Page),
}


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for all the examples of the module (a new one per example is slow)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


async def call_once(base_url: str, endpoint: str) -> object:
    """Make one call with a fresh client on fake time; assert how it ends, return its result
    (or the error)."""
    fake = FakeClock()
    client = AsyncClient(
        KEY,
        widget_uid="w-1",
        base_url=base_url,
        timeout=Timeouts(total=2.0),
        retry=RetryPolicy(attempts=3, deadline=DEADLINE, sleep=fake.sleep, clock=fake.clock),
        rate_limit=RateLimit(clock=fake.clock, sleep=fake.sleep),
    )
    call, expected = CALLS[endpoint]
    started, wall = fake.clock(), time.monotonic()
    async with client:
        try:
            result = await asyncio.wait_for(call(client), timeout=WALL)
        except YourGPTError as error:
            result = error
    if isinstance(result, YourGPTError):
        assert leaks(result) == [], "the key is reachable from the error"
    else:
        assert isinstance(result, expected)
        repr(result)
    assert time.monotonic() - wall < WALL
    assert fake.clock() - started <= DEADLINE
    return result


def run(
    loop: asyncio.AbstractEventLoop, server: HostileServer, reply: bytes, endpoint: str
) -> object:
    server.reply = reply
    note(f"endpoint={endpoint} reply_b64={base64.b64encode(reply).decode()}")
    return loop.run_until_complete(call_once(server.base_url, endpoint))


# -- strategies ------------------------------------------------------------------------------

_texts = st.text(max_size=20) | st.sampled_from([KEY, f"bad key {KEY}", "\ud800", "", "9" * 30])
_numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from([1.7226012685401506e16, 1e308, -0.0])
)
_json = st.recursive(
    st.none() | st.booleans() | _numbers | _texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_texts, children, max_size=4),
    max_leaves=12,
)
_FIELDS = [
    "id", "session_uid", "message", "send_by", "content_type", "choices", "createdAt",
    "created_at", "updated_at", "AILog", "data", "chat_mode", "state", "seen", "total",
    "message_id", "last_message_time", "is_emulator", "project_id", "text", "value",
]  # fmt: skip
_models = st.dictionaries(st.sampled_from(_FIELDS), _json | _texts, max_size=6)
_data = _models | st.lists(_models | _json, max_size=3) | _json
_envelopes = st.fixed_dictionaries(
    {"type": st.sampled_from(["RXSUCCESS", "RXERROR", "OTHER"])},
    optional={"message": _texts | _json, "data": _data, "total": _json, "errors": _json},
)


def _encode(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


_bodies = (
    _envelopes.map(_encode)
    | _json.map(_encode)
    | st.binary(max_size=200)
    | st.integers(1, 3000).map(
        lambda n: b'{"type":"RXSUCCESS","data":' + b"[" * n + b"]" * n + b"}"
    )
)
_header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30
) | st.sampled_from([KEY, "1e400", "-1", "nan", "Wed, 21 Oct 2015 07:28:00 GMT", "0.001"])
_HEADER_NAMES = [
    "Content-Type", "Retry-After", "retry-after-ms", "x-request-id", "Location",
    "Content-Encoding", "Transfer-Encoding", "Content-Length", "RateLimit",
    "RateLimit-Policy", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Any",
]  # fmt: skip
_headers = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "Content-Type",
                "Retry-After",
                "retry-after-ms",
                "x-request-id",
                "Location",
                "Content-Encoding",
                "Transfer-Encoding",
                "Content-Length",
                "RateLimit",
                "RateLimit-Policy",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "X-Any",
            ]
        ),
        _header_values,
    ),
    max_size=4,
)


@st.composite
def http_replies(draw: st.DrawFn) -> bytes:
    """A reply framed as HTTP/1.1, with a random status, reason, headers and body."""
    status = draw(
        st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 503])
        | st.integers(100, 999)
    )
    reason = draw(st.sampled_from(["OK", KEY, ""]))
    body = draw(_bodies)
    lines = [f"HTTP/1.1 {status} {reason}"]
    if draw(st.booleans()):
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in draw(_headers)]
    lines.append("Connection: close")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


_endpoints = st.sampled_from(sorted(CALLS))
EXAMPLES = int(os.environ.get("YOURGPT_FUZZ_EXAMPLES", "60"))
_FAST = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@_FAST
@given(reply=http_replies(), endpoint=_endpoints)
def test_any_http_reply_ends_typed_and_keyless(
    loop: asyncio.AbstractEventLoop, hostile_server: HostileServer, reply: bytes, endpoint: str
) -> None:
    """Random status, headers and body to any endpoint: a result or a YourGPTError, in time."""
    run(loop, hostile_server, reply, endpoint)


@settings(_FAST, max_examples=max(1, EXAMPLES // 2))
@given(reply=st.binary(max_size=300), endpoint=_endpoints)
def test_any_bytes_end_typed_and_keyless(
    loop: asyncio.AbstractEventLoop, hostile_server: HostileServer, reply: bytes, endpoint: str
) -> None:
    """Random bytes instead of HTTP, to any endpoint: a YourGPTError, in time."""
    assert isinstance(run(loop, hostile_server, reply, endpoint), YourGPTError)


# -- the corpus ------------------------------------------------------------------------------


def _corpus() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))
    return cases


def corpus_reply(case: dict[str, Any]) -> bytes:
    """A corpus case as bytes: ``raw_b64``, or ``status``/``headers``/``body`` (or
    ``body_b64``, or ``deep``: JSON nested that deep), with ``{KEY}`` standing for the key."""
    if "raw_b64" in case:
        return base64.b64decode(case["raw_b64"]).replace(b"{KEY}", KEY.encode())
    if "deep" in case:
        body = b'{"type":"RXSUCCESS","data":' + b"[" * case["deep"] + b"]" * case["deep"] + b"}"
    elif "body_b64" in case:
        body = base64.b64decode(case["body_b64"])
    else:
        text = case["body"] if isinstance(case["body"], str) else json.dumps(case["body"])
        body = text.replace("{KEY}", KEY).encode("utf-8", "surrogatepass")
    head = [f"HTTP/1.1 {case.get('status', 200)} {case.get('reason', 'OK')}"]
    head += [f"{name}: {value}" for name, value in case.get("headers", [])]
    if not any(name.lower() == "content-length" for name, _ in case.get("headers", [])):
        head.append(f"Content-Length: {len(body)}")
    head.append("Connection: close")
    return "\r\n".join(head).replace("{KEY}", KEY).encode("latin-1") + b"\r\n\r\n" + body


@pytest.mark.parametrize("case", _corpus(), ids=lambda case: case["name"])
@pytest.mark.parametrize("endpoint", sorted(CALLS))
def test_corpus_reply(
    loop: asyncio.AbstractEventLoop,
    hostile_server: HostileServer,
    case: dict[str, Any],
    endpoint: str,
) -> None:
    """Each hostile reply ever found, to each endpoint: typed, in time, keyless, and (where
    the case says) the outcome it must have."""
    result = loop.run_until_complete(call_once_with(hostile_server, corpus_reply(case), endpoint))
    expected = case.get("expect", {}).get(endpoint)
    if expected is not None:
        assert type(result).__name__ == expected, result
    for field, value in case.get("fields", {}).get(endpoint, {}).items():
        got = getattr(result, field)
        assert got == value or (isinstance(value, float) and math.isnan(value)), (field, got)


async def call_once_with(server: HostileServer, reply: bytes, endpoint: str) -> object:
    server.reply = reply
    return await call_once(server.base_url, endpoint)


def test_corpus_names_are_unique_and_cases_are_complete() -> None:
    """Every corpus case has a unique name and says what it reproduces."""
    cases = _corpus()
    assert len({case["name"] for case in cases}) == len(cases)
    assert all(case.get("why") for case in cases)
    assert all(set(case.get("expect", {})) <= set(CALLS) for case in cases)

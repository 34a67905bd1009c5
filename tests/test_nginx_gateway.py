"""The client behind a real nginx ``limit_req`` gateway, a server the SDK did not write.

nginx limits to 200 requests a second with a burst of 20 (``nodelay``: the excess is refused at
once) in front of the emulator, and refuses with a JSON 429 carrying ``Retry-After: 1`` or with
its own bare HTML 429. 300 sends started at once through a default client must each be stored
exactly once, none failing. Real time, about 2 s a test; nothing here asserts on timing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import pytest
from nginx_fixtures import NginxGateway, require_nginx

from yourgpt_async import AsyncClient, RateLimit
from yourgpt_async.testing import Emulator

RATE = 200
BURST = 20
SENDS = 300

Refusal = Literal["retry-after", "bare"]
Gateway = Callable[[Refusal], AbstractAsyncContextManager[tuple[Emulator, str]]]


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    """Start an emulator and nginx in front of it; yield both and the gateway's base URL."""
    binary = require_nginx()

    @asynccontextmanager
    async def start(refusal: Refusal) -> AsyncIterator[tuple[Emulator, str]]:
        async with Emulator() as emulator:
            upstream = urlsplit(emulator.base_url)
            with NginxGateway(
                binary,
                tmp_path,
                f"{upstream.hostname}:{upstream.port}",
                rate=RATE,
                burst=BURST,
                refusal=refusal,
            ) as nginx:
                yield emulator, nginx.url + upstream.path

    return start


async def _send_all(emulator: Emulator, base_url: str) -> tuple[list[object], int]:
    """SENDS messages at once through a default client; the outcomes and the limiter's 429s."""
    async with AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=base_url,
        rate_limit=RateLimit(),
    ) as client:
        session = await client.create_session()
        await asyncio.sleep(BURST / RATE + 0.05)  # nginx's burst refills
        emulator.reset()
        outcomes = await asyncio.gather(
            *(client.send_message(session.session_uid, f"m{n}") for n in range(SENDS)),
            return_exceptions=True,
        )
        return outcomes, client.limiter.throttled


def _assert_each_delivered_once(emulator: Emulator, outcomes: list[object]) -> None:
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert failed == []
    delivered = Counter(entry.message for entry in emulator.ledger)
    assert delivered == Counter(f"m{n}" for n in range(SENDS))


async def test_retry_after_gateway_delivers_each_once_with_at_most_two_429s(
    gateway: Gateway,
) -> None:
    """One whole-second cool-down covers the burst's overrun: at most two 429s in all."""
    async with gateway("retry-after") as (emulator, base_url):
        outcomes, throttled = await _send_all(emulator, base_url)
        _assert_each_delivered_once(emulator, outcomes)
        assert throttled <= 2


async def test_bare_gateway_delivers_each_once(gateway: Gateway) -> None:
    """nginx's HTML 429 without Retry-After: every message still stored once, none failed."""
    async with gateway("bare") as (emulator, base_url):
        outcomes, _ = await _send_all(emulator, base_url)
        _assert_each_delivered_once(emulator, outcomes)


async def _first_refusal(base_url: str, api_key: str) -> aiohttp.ClientResponse:
    """Fire bursts of raw requests until nginx refuses one; that reply, its body read."""
    async with aiohttp.ClientSession() as http:
        for _ in range(10):
            replies = await asyncio.gather(
                *(
                    http.post(f"{base_url}/createSession", headers={"api-key": api_key})
                    for _ in range(3 * BURST)
                )
            )
            refused = None
            for reply in replies:
                await reply.read()
                reply.release()
                if reply.status == 429 and refused is None:
                    refused = reply
            if refused is not None:
                return refused
    raise AssertionError("nginx refused no request")


async def test_retry_after_refusal_is_json_with_retry_after_one(gateway: Gateway) -> None:
    async with gateway("retry-after") as (emulator, base_url):
        refused = await _first_refusal(base_url, emulator.api_key)
        assert refused.headers.get("Retry-After") == "1"
        assert refused.content_type == "application/json"
        assert await refused.json() == {"type": "RXERROR", "message": "Too Many Requests"}


async def test_bare_refusal_is_html_without_retry_after(gateway: Gateway) -> None:
    async with gateway("bare") as (emulator, base_url):
        refused = await _first_refusal(base_url, emulator.api_key)
        assert "Retry-After" not in refused.headers
        assert refused.content_type == "text/html"
        assert "429" in (await refused.text())

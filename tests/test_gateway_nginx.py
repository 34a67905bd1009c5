"""The client behind a real nginx ``limit_req`` gateway (200/s, burst 20), a server none of
this project's code wrote: every message lands once, whatever way it refuses.

nginx runs in real time, so these assert only what cannot depend on it: how nginx refuses,
and that every message is stored exactly once with none failed. How fast the client goes behind
it, and how many 429s that costs, is ``benchmarks/nginx_gateway.py``'s figure (``nox -s bench``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from nginx_fixtures import NginxGateway, require_nginx

from yourgpt_async import AsyncClient, RateLimit, RetryPolicy
from yourgpt_async.testing import Emulator

RATE, BURST, SENDS = 200, 20, 300


@pytest.fixture(params=["retry-after", "bare"])
async def gateway(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, Emulator, str]]:
    """An emulator with nginx in front of it, refusing one way or the other; the gateway's
    base URL, the emulator, and the way."""
    binary = require_nginx()
    async with Emulator() as emulator:
        upstream = urlsplit(emulator.base_url)
        nginx = NginxGateway(
            binary,
            tmp_path,
            f"{upstream.hostname}:{upstream.port}",
            rate=RATE,
            burst=BURST,
            refusal=request.param,
        )
        await asyncio.to_thread(nginx.start)
        try:
            yield nginx.url + upstream.path, emulator, request.param
        finally:
            await asyncio.to_thread(nginx.stop)


async def _first_refusal(base_url: str, api_key: str) -> tuple[int, str | None, str, str]:
    """Fire bursts of raw requests until nginx refuses one; its status, Retry-After, content
    type and body."""
    async with aiohttp.ClientSession() as http:

        async def post() -> tuple[int, str | None, str, str]:
            async with http.post(f"{base_url}/getSessions", headers={"api-key": api_key}) as reply:
                body = await reply.text()
                return reply.status, reply.headers.get("Retry-After"), reply.content_type, body

        for _ in range(20):
            replies = await asyncio.gather(*(post() for _ in range(3 * BURST)))
            refused = [reply for reply in replies if reply[0] == 429]
            if refused:
                return refused[0]
    raise AssertionError("nginx refused no request")


async def test_the_gateway_refuses_as_configured(gateway: tuple[str, Emulator, str]) -> None:
    """Past its burst nginx answers 429: JSON with ``Retry-After: 1``, or its own bare page."""
    base_url, emulator, refusal = gateway
    status, retry_after, content_type, body = await _first_refusal(base_url, emulator.api_key)
    assert status == 429
    if refusal == "retry-after":
        assert (retry_after, content_type) == ("1", "application/json")
        assert '"RXERROR"' in body
    else:
        assert (retry_after, content_type) == (None, "text/html")
        assert "429" in body


async def test_every_message_lands_once_behind_the_gateway(
    gateway: tuple[str, Emulator, str],
) -> None:
    """300 sends at once through a default client, not told the rate: each delivered once,
    none failed. (Enough attempts that pacing, not patience, is what gets them through.)"""
    base_url, emulator, _ = gateway
    async with AsyncClient(
        emulator.api_key,
        widget_uid=emulator.widget_uid,
        base_url=base_url,
        rate_limit=RateLimit(),
        retry=RetryPolicy(attempts=50, deadline=300),
    ) as client:
        uid = (await client.create_session()).session_uid
        outcomes = await asyncio.gather(
            *(client.send_message(uid, f"m{n}") for n in range(SENDS)), return_exceptions=True
        )
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    delivered = Counter(entry.message for entry in emulator.ledger)
    assert delivered == Counter(f"m{n}" for n in range(SENDS))

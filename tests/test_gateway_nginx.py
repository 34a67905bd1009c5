"""The client behind a real nginx ``limit_req`` gateway (200/s, burst 20), a server none of
this project's code wrote: every message lands once, whatever way it refuses."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from nginx_fixtures import NginxGateway, require_nginx

from yourgpt_async import AsyncClient, RateLimit
from yourgpt_async.testing import Emulator


@pytest.fixture(params=["retry-after", "bare"])
async def gateway(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, Emulator, str]]:
    binary = require_nginx()
    async with Emulator() as emulator:
        upstream = urlsplit(emulator.base_url)
        nginx = NginxGateway(
            binary,
            tmp_path,
            f"{upstream.hostname}:{upstream.port}",
            rate=200,
            burst=20,
            refusal=request.param,
        )
        await asyncio.to_thread(nginx.start)
        try:
            yield nginx.url + upstream.path, emulator, request.param
        finally:
            await asyncio.to_thread(nginx.stop)


async def test_the_gateway_refuses_as_configured(gateway: tuple[str, Emulator, str]) -> None:
    """A burst past 21 is refused: with ``Retry-After: 1`` and JSON, or nginx's bare page."""
    base_url, emulator, refusal = gateway
    async with aiohttp.ClientSession() as http:

        async def post() -> tuple[int, str | None, str]:
            async with http.post(
                f"{base_url}/getSessions", json={}, headers={"api-key": emulator.api_key}
            ) as reply:
                await reply.read()
                return reply.status, reply.headers.get("Retry-After"), reply.content_type

        replies = await asyncio.gather(*(post() for _ in range(60)))
    refused = [reply for reply in replies if reply[0] == 429]
    assert refused
    assert sum(reply[0] == 200 for reply in replies) >= 20
    if refusal == "retry-after":
        assert {(ra, kind) for _, ra, kind in refused} == {("1", "application/json")}
    else:
        assert {(ra, kind) for _, ra, kind in refused} == {(None, "text/html")}


async def test_every_message_lands_once_behind_the_gateway(
    gateway: tuple[str, Emulator, str],
) -> None:
    """300 sends at once through a default client, not told the rate: each delivered once,
    none failed; with ``Retry-After: 1`` the client pauses at most twice."""
    base_url, emulator, refusal = gateway
    async with AsyncClient(
        emulator.api_key, widget_uid=emulator.widget_uid, base_url=base_url, rate_limit=RateLimit()
    ) as client:
        uid = (await client.create_session()).session_uid
        await asyncio.sleep(0.2)  # the bucket refills
        await asyncio.gather(*(client.send_message(uid, f"m{n}") for n in range(300)))
        throttled: int = client.limiter.throttled  # type: ignore[attr-defined]
    delivered = Counter(entry.message for entry in emulator.ledger)
    assert sorted(delivered) == sorted(f"m{n}" for n in range(300))
    assert set(delivered.values()) == {1}
    if refusal == "retry-after":
        assert 1 <= throttled <= 2

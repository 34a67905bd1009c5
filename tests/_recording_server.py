"""A small aiohttp server for wire-format tests: it records each request (path, headers, parsed
JSON body) and answers with the envelope set for its endpoint, so a test can check exactly what
a method sends and how it decodes each reply shape the service's pages show."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
from aiohttp import web

from yourgpt_async import AsyncPlatformClient, RateLimit, RetryPolicy

TOKEN = "api-v1-WIRE-secret-token-0123456789"
"""The organisation token the wire tests send."""


@attrs.frozen
class Seen:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    content_type: str
    body: Any


class RecordingServer:
    """Answers ``replies[endpoint]`` (a JSON envelope, with HTTP 200 unless ``statuses`` says
    otherwise), or an empty RXSUCCESS envelope; every request is kept in :attr:`seen`.

    A subclass that answers otherwise overrides :meth:`answer`.
    """

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.replies: dict[str, object] = {}
        self.statuses: dict[str, int] = {}

    def answer(self, name: str) -> object:
        """The JSON reply to a request to endpoint ``name``."""
        return self.replies.get(name, {"type": "RXSUCCESS", "message": "ok"})

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.seen.append(Seen(request.path, dict(request.headers), request.content_type, body))
        name = request.match_info["name"]
        return web.json_response(self.answer(name), status=self.statuses.get(name, 200))


@asynccontextmanager
async def platform_client(
    server: RecordingServer, retry: RetryPolicy | None = None
) -> AsyncIterator[AsyncPlatformClient]:
    """An :class:`AsyncPlatformClient` of :data:`TOKEN` talking to ``server`` over loopback."""
    app = web.Application()
    app.router.add_route("POST", "/chatbot/v1/{name}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with AsyncPlatformClient(
            TOKEN,
            base_url=f"http://{host}:{port}/chatbot/v1",
            retry=retry or RetryPolicy(attempts=1),
            rate_limit=RateLimit.unlimited(),
        ) as client:
            yield client
    finally:
        await runner.cleanup()

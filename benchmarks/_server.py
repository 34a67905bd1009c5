"""The fast stand-in server: a bare asyncio Protocol answering one canned RXSUCCESS reply.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies, pipelining) to answer
``POST /chatbot/v1/sendMessage`` and is much cheaper per request than any client under test,
so the client is the bottleneck. Run it in its own process: ``python -m benchmarks._server``
prints ``PORT <n>`` when it listens and serves until its standard input closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

__all__ = ["REPLY_BODY", "main", "serve"]

REPLY_BODY: bytes = json.dumps(
    {
        "type": "RXSUCCESS",
        "message": "AI reply",
        "data": {
            "send_by": "assistant",
            "origin": "api",
            "session_uid": "39772b8d-d1c8-4d5a-a473-a6841bc4c880",
            "type": "text",
            "message_id": 241043,
            "message": "Hello! How can I assist you today?",
            "content_type": "picker",
            "id": 241043,
            "choices": [
                {"icon": "👍", "text": "I am satisfied", "value": "like", "enabled": True},
                {"icon": "👎", "text": "I am not satisfied", "value": "dislike", "enabled": True},
                {
                    "icon": "🦸",
                    "text": "Request a human operator",
                    "value": "requesthumanoperator",
                    "enabled": True,
                },
            ],
        },
    },
    ensure_ascii=False,
).encode()
"""The reply to every request: the sendMessage sample of the API reference."""

_OK = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    b"Content-Length: " + str(len(REPLY_BODY)).encode() + b"\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n" + REPLY_BODY
)
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_MAX_HEAD = 64 * 1024


class _Http(asyncio.Protocol):
    """One connection: split the byte stream into requests and answer each with ``_OK``."""

    __slots__ = ("_buffer", "_transport")

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        replies = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = 0
            start = head.find(b"\r\ncontent-length:")
            if start < 0:
                start = head.lower().find(b"\r\ncontent-length:")
            if start >= 0:
                stop = head.find(b"\r\n", start + 2)
                value = head[start + 17 : stop if stop >= 0 else len(head)]
                try:
                    length = int(value)
                except ValueError:
                    self._fail()
                    return
            total = end + 4 + length
            if len(buffer) < total:
                break
            buffer = buffer[total:]
            replies += 1
        if len(buffer) > _MAX_HEAD + 1024 * 1024:
            self._fail()
            return
        self._buffer = buffer
        if replies and self._transport is not None:
            self._transport.write(_OK * replies)

    def _fail(self) -> None:
        if self._transport is not None:
            self._transport.write(_BAD)
            self._transport.close()


async def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until standard input closes, after printing ``PORT <n>``."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, host, port, backlog=1024, reuse_address=True)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    closed = asyncio.Event()

    def on_stdin() -> None:
        if not os.read(sys.stdin.fileno(), 4096):
            closed.set()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    async with server:
        await closed.wait()


def main() -> None:
    """Entry point of ``python -m benchmarks._server [PORT]``."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    asyncio.run(serve(port=port))


if __name__ == "__main__":
    main()

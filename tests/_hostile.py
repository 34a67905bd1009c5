"""A small hostile HTTP server for the tests: it answers every request with whatever bytes it is
told to, valid HTTP or not, in a thread of its own so that sync tests (the CLI) can use it too."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

KEY = "apk-HOSTILE-secret-key-0123456789"
"""The API key the tests send to hostile servers, and look for in everything that comes back."""
TOKEN = "api-v1-HOSTILE-secret-token-0123456789"
"""The organisation token the tests send to hostile servers, and look for in everything that
comes back."""
SAMPLES = Path(__file__).parent / "samples"
"""The service's sample replies, one JSON file per endpoint."""


@attrs.frozen
class Request:
    """What the client sent: the endpoint name (last path part), headers, the parsed body and
    the whole path."""

    endpoint: str
    headers: dict[str, str]
    body: Any
    path: str = ""


Reply = bytes | Callable[[Request], bytes]


def http(
    body: bytes | str | object = b"",
    *,
    status: int = 200,
    headers: Iterable[tuple[str, str]] = (),
    reason: str = "OK",
) -> bytes:
    """One HTTP/1.1 response, framed by Content-Length; a body that is not bytes or str is JSON."""
    if isinstance(body, str):
        raw = body.encode("utf-8", "surrogatepass")
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode()
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(raw)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers]
    return "\r\n".join(head).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + raw


def success(data: object, **extra: object) -> bytes:
    """An RXSUCCESS envelope with ``data``."""
    return http({"type": "RXSUCCESS", "message": "ok", "data": data, **extra})


def sample(name: str) -> bytes:
    """A sample reply, framed as HTTP."""
    return http((SAMPLES / name).read_bytes())


class HostileServer:
    """Answers each request with :attr:`reply` (bytes, or a function of the request), then
    closes the connection. ``hold=True`` makes it keep the connection open without answering;
    clearing :attr:`release` makes it wait before answering."""

    def __init__(self, reply: Reply = b"") -> None:
        self.reply: Reply = reply
        self.hold = False
        self.release = threading.Event()
        """Cleared, a request is answered only once it is set again."""
        self.release.set()
        self.requests: list[Request] = []
        self._arrived = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.base_url = ""

    def __enter__(self) -> HostileServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/chatbot/v1"

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def count(self, endpoint: str | None = None) -> int:
        """How many requests came (to ``endpoint``, if given)."""
        return sum(endpoint in (None, r.endpoint) for r in self.requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until ``count`` requests have come (``False`` if not within ``timeout``)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            with self._arrived:
                self.requests.append(request)
                self._arrived.notify_all()
            if self.hold:
                await reader.read()  # until the client gives up and closes
                return
            await asyncio.to_thread(self.release.wait)
            reply = self.reply(request) if callable(self.reply) else self.reply
            writer.write(reply)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return Request(path.rstrip("/").rpartition("/")[2], headers, body, path)


def reachable_text(error: BaseException) -> list[str]:
    """Every string reachable from an exception: its str and repr, its traceback text, and
    those of its attributes (walked into dicts, lists and tuples), causes and contexts."""
    import traceback

    texts = traceback.format_exception(type(error), error, error.__traceback__)
    stack: list[object] = [error]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or len(seen) > 100_000:
            continue
        seen.add(id(node))
        if isinstance(node, str):
            texts.append(node)
        elif isinstance(node, (bytes, bytearray)):
            texts.append(bytes(node).decode("latin-1"))
        elif isinstance(node, dict):
            stack += [*node.keys(), *node.values()]
        elif isinstance(node, (list, tuple, set, frozenset)):
            stack += list(node)
        elif isinstance(node, BaseException):
            texts += [str(node), repr(node)]
            stack += [node.args, vars(node), node.__cause__, node.__context__]
        elif node is not None and not isinstance(node, (int, float, bool)):
            texts.append(repr(node))
            stack.append(getattr(node, "__dict__", None))
    return texts


def leaks(error: BaseException, secret: str = KEY) -> list[str]:
    """The strings reachable from ``error`` that contain ``secret`` (or its first half)."""
    half = secret[: len(secret) // 2]
    return [text for text in reachable_text(error) if half in text]

"""One HTTP attempt: the concurrency gate, the rate limiter, the POST, a size-capped read.

:class:`Transport` owns the client's ``aiohttp.ClientSession``, its limiter and its gate, and
is shared by every view of a client. :meth:`Transport.attempt` makes exactly one request and
hands the reply to :func:`~yourgpt_async._wire.decode_reply`; it tells the limiter how the
attempt went (from the failure's ``kind``) and raises the failure. Retrying is not its business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ._config import Timeouts
from ._exceptions import (
    APIError,
    ConnectError,
    FailureKind,
    ResponseTooLargeError,
    TransportError,
)
from ._ratelimit import Limiter
from ._wire import ENDPOINTS, Endpoint, decode_reply

if TYPE_CHECKING:
    from ._telemetry import CallTrace

__all__ = ["Transport", "client_timeout"]

T = TypeVar("T")

_CHUNK = 65536


def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """aiohttp's form of ``timeouts``."""
    # A read timeout no shorter than the total one can never fire first; leaving it out
    # spares aiohttp re-arming a timer on every chunk received. `connect` covers waiting
    # for a pooled connection as well as opening one.
    total, read = timeouts.total, timeouts.read
    if total is not None and read is not None and read >= total:
        read = None
    return aiohttp.ClientTimeout(total=total, connect=timeouts.connect, sock_read=read)


class Transport:
    """The HTTP machinery one client and all its views share."""

    def __init__(
        self,
        *,
        base_url: URL,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        limiter: Limiter,
        max_concurrency: int,
        max_response_bytes: int,
        session: aiohttp.ClientSession | None,
    ) -> None:
        self.base_url = base_url
        self.limiter = limiter
        self._timeout = client_timeout(timeouts)
        self._max_concurrency = max_concurrency
        self._max_response_bytes = max_response_bytes
        self._gate = asyncio.Semaphore(max_concurrency)
        self._session = session
        self._owns_session = session is None
        self.closed = False
        self._urls = {e.name: base_url / e.name for e in ENDPOINTS}
        # Built once as the multidict aiohttp would otherwise convert a plain dict into.
        self._headers = CIMultiDict(headers)

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, made on first use inside the running event loop."""
        if self.closed:
            raise RuntimeError("this AsyncClient is closed; make a new one to send more requests")
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_concurrency)
            )
        return session

    async def aclose(self) -> None:
        """Close the session (unless the caller owns it) and the limiter. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
        await self.limiter.aclose()

    async def attempt(
        self,
        endpoint: Endpoint[T],
        body: bytes,
        *,
        timeout: aiohttp.ClientTimeout | None = None,
        headers: CIMultiDict[str] | None = None,
        trace: CallTrace | None = None,
    ) -> T:
        """Send ``body`` to ``endpoint`` once; return its result or raise what went wrong.

        ``timeout`` and ``headers`` replace the client's for this request (a view's own);
        ``trace``, when given, is told when the request leaves and what came back.
        """
        session = self.session()
        # `async with self._gate`, less the two coroutines its __aenter__ and __aexit__ make.
        await self._gate.acquire()
        try:
            ticket = await self.limiter.acquire()
            if trace is not None:
                trace.sending()
            status, reply_headers, raw = await self._post(
                session, endpoint.name, body, timeout or self._timeout, headers or self._headers
            )
            if trace is not None:
                trace.replied(status, reply_headers)
            result = decode_reply(endpoint, status, reply_headers, raw)
            if isinstance(result, APIError):
                if result.kind is FailureKind.THROTTLED:
                    self.limiter.on_throttled(ticket, result.retry_after)
                else:
                    self.limiter.on_success(ticket)
                raise result
            self.limiter.on_success(ticket)
            return result
        finally:
            self._gate.release()

    async def _post(
        self,
        session: aiohttp.ClientSession,
        name: str,
        body: bytes,
        timeout: aiohttp.ClientTimeout,
        headers: CIMultiDict[str],
    ) -> tuple[int, CIMultiDict[str] | Mapping[str, str], bytes]:
        try:
            # Timeouts and error handling are set per request so that they hold on a session
            # the caller passed in, whatever its own defaults.
            response = await session.post(
                self._urls[name],
                data=body,
                headers=headers,
                allow_redirects=False,
                raise_for_status=False,
                timeout=timeout,
            )
            try:
                return response.status, response.headers, await self._read(response, name)
            finally:
                # What leaving `async with` does, less awaiting the request's writer: the body
                # was sent before any reply came back (release() cancels a writer that is
                # somehow still running).
                response.release()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            raise ConnectError(
                f"{name}: could not connect to {self.base_url.host}: {type(error).__name__}",
                endpoint=name,
            ) from error
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise TransportError(
                f"{name}: no complete reply after the request was sent ({type(error).__name__})",
                endpoint=name,
            ) from error

    async def _read(self, response: aiohttp.ClientResponse, name: str) -> bytes:
        cap = self._max_response_bytes
        length = response.content_length
        # Content-Length counts bytes on the wire, which a Content-Encoding may inflate many
        # times over: it can only refuse early. The cap holds for the decoded body.
        if length is not None and length <= cap and "Content-Encoding" not in response.headers:
            return await response.read()  # not encoded: exactly `length` bytes, one await
        if length is None or length <= cap:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > cap:
                    break
                chunks.append(chunk)
            else:
                return b"".join(chunks)
        response.close()
        raise ResponseTooLargeError(
            f"the reply is larger than max_response_bytes={cap}; it was not read",
            status=response.status,
            endpoint=name,
        )

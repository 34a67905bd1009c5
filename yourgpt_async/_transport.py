"""One HTTP attempt: the concurrency gate, the rate limiter, the POST, a size-capped read.

:class:`Transport` owns the client's ``aiohttp.ClientSession``, its limiter and its gate, and
is shared by every view of a client. :meth:`Transport.attempt` makes exactly one request and
hands the reply to :func:`~yourgpt_async._wire.decode_reply` (or, for a body over the size
cap, :func:`~yourgpt_async._wire.oversized_reply`); it tells the limiter how the
attempt went (from the failure's ``kind``, and the reply's rate-limit headers) and raises the
failure. Given the time left of the call, no wait and no request outlasts it. Retrying is not
its business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._config import Timeouts
from ._endpoints import Endpoint, Family
from ._exceptions import (
    APIError,
    ConnectError,
    FailureKind,
    NotSentError,
    TransportError,
    holds_secret,
    redact,
    redact_error,
    redact_headers,
)
from ._inflight import CALL_STATE, CallState
from ._retry import Budget
from ._wire import decode_reply, oversized_reply
from .pacing._headers import rate_hints
from .pacing._limiter import BULK, INTERACTIVE, Limiter, NoTurnInTime
from .types import Priority

if TYPE_CHECKING:
    from ._telemetry import CallTrace

__all__ = ["RequestTimeout", "Transport", "request_timeout"]

T = TypeVar("T")

_CHUNK = 65536
_DETAIL = 200  # characters of a network error's own text kept in ours
# Failures that prove the request was not acted on: nothing was delivered.
_NOT_DELIVERED = frozenset({FailureKind.CONNECT, FailureKind.THROTTLED, FailureKind.REJECTED})
# Until a reply has had rate-limit headers, only every this many successes is looked at (any
# other reply always is): a service that sends them sends them on every answer.
_HINT_SAMPLING = 16
_INTERACTIVE_SHARE = 8  # of max_concurrency, this share is kept for interactive calls


@attrs.frozen(slots=True)
class RequestTimeout:
    """A request's :class:`Timeouts` with aiohttp's form of them, built once per client or view.

    Attributes:
        timeouts: As the caller gave them, to cut down to a call's time left.
        client: What aiohttp is handed when the time left does not cut them.
    """

    timeouts: Timeouts
    client: aiohttp.ClientTimeout


def request_timeout(timeouts: Timeouts) -> RequestTimeout:
    """``timeouts`` with aiohttp's form of them."""
    # A read timeout no shorter than the total one can never fire first; leaving it out
    # spares aiohttp re-arming a timer on every chunk received. `connect` covers waiting
    # for a pooled connection as well as opening one.
    total, read = timeouts.total, timeouts.read
    if total is not None and read is not None and read >= total:
        read = None
    client = aiohttp.ClientTimeout(total=total, connect=timeouts.connect, sock_read=read)
    return RequestTimeout(timeouts, client)


class _Urls(dict[str, URL]):
    """Each endpoint's URL under ``base_url``, made on its first request."""

    def __init__(self, base_url: URL) -> None:
        super().__init__()
        self._base_url = base_url

    def __missing__(self, name: str) -> URL:
        url = self[name] = self._base_url / name
        return url


class Transport:
    """The HTTP machinery one client and all its views share."""

    def __init__(
        self,
        *,
        base_url: URL,
        headers: CIMultiDict[str],
        timeouts: Timeouts,
        limiter: Limiter,
        max_concurrency: int,
        max_response_bytes: int,
        session: aiohttp.ClientSession | None,
        secrets: tuple[str, ...],
        family: Family,
    ) -> None:
        self.base_url = base_url
        self.family = family  # whose credential: decides the advice an error gives
        self.limiter = limiter
        self._timeout = request_timeout(timeouts)
        self._hints_seen = False
        self._replies = 0
        self._max_concurrency = max_concurrency
        self._max_response_bytes = max_response_bytes
        self._gate = asyncio.Semaphore(max_concurrency)
        # Bulk calls leave an eighth of the gate (at least one slot) to interactive ones: a bulk
        # run waiting for its turns would otherwise hold every slot, and an interactive call
        # would wait for one of its requests to finish before even asking for a turn.
        reserve = max(1, max_concurrency // _INTERACTIVE_SHARE) if max_concurrency > 1 else 0
        self._bulk_gate = asyncio.Semaphore(max_concurrency - reserve)
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self._urls = _Urls(base_url)
        self._headers = headers
        self._secrets = secrets

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, made on first use inside the running event loop."""
        if self.closed:
            raise RuntimeError("this AsyncClient is closed; make a new one to send more requests")
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                raise RuntimeError(_OTHER_LOOP)
            self._loop = loop
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
        budget: Budget,
        *,
        timeout: RequestTimeout | None = None,
        headers: CIMultiDict[str] | None = None,
        trace: CallTrace | None = None,
        priority: Priority = INTERACTIVE,
    ) -> T:
        """Send ``body`` to ``endpoint`` once; return its result or raise what went wrong.

        The waits for the gate and for a turn end when the call's ``budget`` says the request
        must be sent, raising :class:`NotSentError` with nothing sent, and the
        request is cut to the time left of the call (a request still unanswered then is a
        timeout). ``timeout`` and ``headers`` replace the client's for this request (a view's
        own); ``trace``, when given, is told when the request leaves and what came back.
        ``priority`` is the call's place in the limiter's queue.
        """
        session = self.session()
        bulk = priority is BULK
        if bulk or self._gate.locked():
            await self._admit(endpoint.name, budget, bulk)
        else:
            # `async with self._gate`, less the coroutines of __aenter__, _admit and _enter.
            await self._gate.acquire()
        try:
            ticket, client_timeout = await self._turn(endpoint.name, budget, timeout, priority)
            call = CALL_STATE.get()
            if call is not None:
                call.sending = True
            if trace is not None:
                trace.sending()
            try:
                status, reply_headers, raw = await self._post(
                    session, endpoint.name, body, client_timeout, headers or self._headers
                )
            except BaseException as error:  # cancelled mid-request: it may have been delivered
                _sent(call, getattr(error, "kind", None))
                raise
            if trace is not None:
                # What a trace hands on (log, hooks, span, raw response) holds no credential,
                # even where a service echoes it in a header such as x-request-id.
                trace.replied(status, redact_headers(reply_headers, self._secrets))
            result = self._decode(endpoint, status, reply_headers, raw)
            if isinstance(result, APIError):
                self._read_hints(ticket, reply_headers, True)
                self._report(ticket, call, result)
                raise redact_error(result, self._secrets)
            self._read_hints(ticket, reply_headers, False)
            _sent(call, None)
            self.limiter.on_success(ticket)
            return result
        finally:
            self._gate.release()
            if bulk:
                self._bulk_gate.release()

    def _decode(
        self, endpoint: Endpoint[T], status: int, headers: Mapping[str, str], raw: bytes | None
    ) -> T | APIError:
        """What a reply means; ``raw`` is None when its body was over the size cap, unread."""
        if raw is None:
            return oversized_reply(endpoint, status, headers, self._max_response_bytes, self.family)
        return decode_reply(endpoint, status, headers, raw, self.family)

    def _report(self, ticket: float, call: CallState | None, error: APIError) -> None:
        """Tell the limiter (and the task's call state) what a refused attempt met."""
        _sent(call, error.kind)
        if error.kind is FailureKind.THROTTLED:
            self.limiter.on_throttled(ticket, error.retry_after)
        else:
            self.limiter.on_success(ticket)

    async def _admit(self, name: str, budget: Budget, bulk: bool) -> None:
        """Take a slot of the gate (a bulk call first one of the bulk calls' share)."""
        if bulk:
            await self._enter(self._bulk_gate, name, budget)
        try:
            await self._enter(self._gate, name, budget)
        except BaseException:
            if bulk:
                self._bulk_gate.release()
            raise

    async def _enter(self, gate: asyncio.Semaphore, name: str, budget: Budget) -> None:
        """Take a slot of ``gate``, within the budget's wait."""
        if gate.locked():
            await self._wait_for_gate(gate, name, budget)
        else:
            # `async with gate`, less the two coroutines its __aenter__ and __aexit__ make.
            await gate.acquire()

    def _read_hints(self, ticket: float, headers: Mapping[str, str], failed: bool) -> None:
        """Hand the limiter what a reply's rate-limit headers say, sampling while none came."""
        self._replies += 1
        if failed or self._hints_seen or not self._replies % _HINT_SAMPLING:
            hints = rate_hints(headers)
            if hints is not None:
                self._hints_seen = True
                self.limiter.on_rate_headers(ticket, hints)

    async def _turn(
        self,
        name: str,
        budget: Budget,
        timeout: RequestTimeout | None,
        priority: Priority,
    ) -> tuple[float, aiohttp.ClientTimeout]:
        """Wait for the limiter's turn within the budget; return it and the attempt's timeout."""
        timeout = timeout or self._timeout
        try:
            ticket = await self.limiter.acquire_within(budget.wait_left(), priority)
        except NoTurnInTime as late:
            if late.cooldown and late.wait is not None:
                why = (
                    f"the service asked this client to pause for {late.wait:.3g}s more (a "
                    "429's Retry-After, or a quota spent until its reset), so no turn comes"
                )
            else:
                why = "no turn under the client's rate limit came"
            retry_after = late.wait if late.cooldown else None
            raise _not_sent(name, why, budget, retry_after) from None
        return ticket, _timeout_within(name, budget, timeout)

    async def _wait_for_gate(self, gate: asyncio.Semaphore, name: str, budget: Budget) -> None:
        """Wait for a free slot in ``gate``, for as long as the budget lets the call wait."""
        try:
            await asyncio.wait_for(gate.acquire(), max(0.0, budget.wait_left()))
        except asyncio.TimeoutError:
            why = f"no slot of max_concurrency ({self._max_concurrency}) came free"
            raise _not_sent(name, why, budget) from None

    async def _post(
        self,
        session: aiohttp.ClientSession,
        name: str,
        body: bytes,
        timeout: aiohttp.ClientTimeout,
        headers: CIMultiDict[str],
    ) -> tuple[int, CIMultiDict[str] | Mapping[str, str], bytes | None]:
        """The reply's status, headers and body (``None`` when over ``max_response_bytes``)."""
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
                return response.status, response.headers, await self._read(response)
            finally:
                # What leaving `async with` does, less awaiting the request's writer: the body
                # was sent before any reply came back (release() cancels a writer that is
                # somehow still running).
                response.release()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            failure: TransportError = ConnectError(
                f"{name}: could not connect to {self.base_url.host}: {self._describe(error)}",
                endpoint=name,
            )
            failure.__cause__ = self._safe_cause(error)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            failure = TransportError(
                f"{name}: no complete reply after the request was sent ({self._describe(error)})",
                endpoint=name,
            )
            failure.__cause__ = self._safe_cause(error)
        # Raised here, outside the handlers, so that aiohttp's exception is not its __context__:
        # that one may hold the request's headers, API key included.
        raise failure

    def _describe(self, error: BaseException) -> str:
        """The type and text of a network error, without the key, in a line."""
        text = " ".join(redact(str(error), self._secrets).split())
        if len(text) > _DETAIL:
            text = text[:_DETAIL] + "..."
        return f"{type(error).__name__}: {text}" if text else type(error).__name__

    def _safe_cause(self, error: BaseException) -> BaseException | None:
        """``error``, or a copy of it without the request's headers, or ``None`` if the key
        would still be reachable from it.

        aiohttp's ``ClientResponseError`` (an invalid or oversized reply) keeps the request's
        headers, API key included, in its ``request_info``; the copy keeps the rest.
        """
        if isinstance(error, aiohttp.ClientResponseError):
            info = error.request_info
            headers = CIMultiDict(
                (name, redact(value, self._secrets)) for name, value in info.headers.items()
            )
            error = aiohttp.ClientResponseError(
                aiohttp.RequestInfo(
                    info.url, info.method, CIMultiDictProxy(headers), info.real_url
                ),
                (),
                status=error.status,
                message=redact(error.message, self._secrets),
            )
        return None if _reaches(error, self._secrets) else error

    async def _read(self, response: aiohttp.ClientResponse) -> bytes | None:
        """The body, or ``None`` (the connection closed) when it is over the size cap."""
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
        return None


_OTHER_LOOP = (
    "this AsyncClient was first used in another event loop, which it stays bound to (its HTTP "
    "session, rate limiter and concurrency gate belong to that loop); typically a second "
    "asyncio.run() reused a client made for the first. Make the client inside the coroutine "
    "that asyncio.run() runs (async with AsyncClient(...) as client: ...), one per loop, or "
    "run all the work in one loop"
)


def _sent(call: CallState | None, kind: FailureKind | None) -> None:
    """Note that an attempt of ``call`` ended; ``kind`` is its failure's, ``None`` a success."""
    if call is not None:
        call.sending = False
        if kind not in _NOT_DELIVERED:
            call.maybe_delivered = True


def _reaches(error: BaseException, secrets: tuple[str, ...]) -> bool:
    """Whether a secret shows in the text, repr or attributes of ``error`` or what it chains to."""
    links, seen = [error], 0
    while links:
        link = links.pop()
        seen += 1
        if seen > 16:
            return True  # a chain this long is not worth checking further: drop it
        texts = (str(link), repr(link), repr(getattr(link, "__dict__", {})), repr(link.args))
        if any(holds_secret(text, secrets) for text in texts):
            return True
        links += [e for e in (link.__cause__, link.__context__) if e is not None]
    return False


def _timeout_within(name: str, budget: Budget, timeout: RequestTimeout) -> aiohttp.ClientTimeout:
    """A request's timeouts, with the whole of it cut to the call's time left if that is less
    (never for a create or a call whose ``Timeouts.total`` fits in its deadline: its budget
    sends it only while the full timeout still fits)."""
    seconds = budget.time_left()
    if seconds <= 0:
        raise _not_sent(name, "no time was left", budget)
    timeouts = timeout.timeouts
    total = timeouts.total
    if total is not None and total <= seconds:
        return timeout.client
    read = timeouts.read if timeouts.read is not None and timeouts.read < seconds else None
    connect = timeouts.connect if timeouts.connect is not None else seconds
    return aiohttp.ClientTimeout(total=seconds, connect=min(connect, seconds), sock_read=read)


def _not_sent(
    name: str, why: str, budget: Budget, retry_after: float | None = None
) -> NotSentError:
    """The error of a call given up before its request was sent: ``why``, and by when."""
    return NotSentError(
        f"{name}: not sent: {why} {budget.limit()}; nothing reached the service, so trying "
        "again later is safe",
        endpoint=name,
        retry_after=retry_after,
    )

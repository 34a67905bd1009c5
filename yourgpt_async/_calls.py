"""One call, from a checked payload to its result: the request cycle of a client or of a view.

A :class:`Caller` holds what a view of a client may change (retry policy, timeouts, headers)
over what every view shares (the :class:`~._transport.Transport` and the
:class:`~._telemetry.Telemetry`). :meth:`Caller.call` encodes the body and runs the attempts
under the retry policy, watched by a :class:`~._telemetry.CallTrace` only when something looks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs
from multidict import CIMultiDict

from . import _validate as check
from ._config import RetryPolicy, Timeouts
from ._exceptions import ConfigurationError, YourGPTError
from ._models import Page, Priority, RawResponse, with_fetch
from ._retry import run_with_retries
from ._telemetry import CallTrace, Telemetry
from ._transport import RequestTimeout, Transport, request_timeout
from ._wire import Endpoint, encode_body
from .pacing._headers import rate_limit_info

__all__ = ["Caller", "Timeout", "request_headers"]

T = TypeVar("T")
Timeout = float | Timeouts
_ListEndpoint = Endpoint[tuple[tuple[T, ...], int | None]]

USER_AGENT: Final = "yourgpt-async/0.1.0"


def request_headers(
    api_key: str, default_headers: object, user_agent_suffix: object
) -> CIMultiDict[str]:
    """The headers of every request: the client's own, the caller's defaults, the user agent."""
    extra = check.headers("default_headers", default_headers)
    suffix = check.user_agent_suffix(user_agent_suffix)
    headers = CIMultiDict({"User-Agent": USER_AGENT, "Accept": "application/json", **extra})
    if suffix is not None:
        headers["User-Agent"] = f"{headers['User-Agent']} {suffix}"
    headers.update({"api-key": api_key, "Content-Type": "application/json"})
    return headers


class Caller:
    """Sends the calls of one client or view."""

    def __init__(
        self,
        transport: Transport,
        telemetry: Telemetry,
        *,
        retry: RetryPolicy,
        timeouts: Timeouts,
        headers: CIMultiDict[str],
    ) -> None:
        self.transport = transport
        self.telemetry = telemetry
        self.retry = retry
        self.timeouts = timeouts
        self.headers = headers  # holds the key: never printed
        self.priority = Priority.INTERACTIVE
        # None means the transport's own, which it has ready (the fast path).
        self._timeout: RequestTimeout | None = None
        self._request_headers: CIMultiDict[str] | None = None
        self._record = False  # for one raw response: always trace, and keep the trace
        self.last_trace: CallTrace | None = None

    def _copy(self) -> Caller:
        other = object.__new__(Caller)
        other.__dict__.update(self.__dict__)
        return other

    def with_options(
        self,
        *,
        timeout: Timeout | None,
        retry: RetryPolicy | None,
        max_retries: int | None,
        headers: Mapping[str, str] | None,
        priority: Priority | str | None = None,
    ) -> Caller:
        """A caller with other defaults, sharing this one's transport and telemetry."""
        check.instance("retry", retry, RetryPolicy, "a RetryPolicy")
        rank = None if priority is None else check.choice("priority", priority, Priority)
        extra = check.headers("headers", headers)
        timeouts = None if timeout is None else check.timeout(timeout)
        policy = retry or self.retry
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
                raise ConfigurationError(
                    f"max_retries must be an int of at least 0, got {check.short(max_retries)}"
                )
            policy = attrs.evolve(policy, attempts=max_retries + 1)
        other = self._copy()
        other.retry = policy
        if rank is not None:
            other.priority = rank
        if timeouts is not None:
            other.timeouts = timeouts
            other._timeout = request_timeout(timeouts)
        if extra:
            other.headers = CIMultiDict(self.headers)
            other.headers.update(extra)
            other._request_headers = other.headers
        return other

    def recording(self) -> Caller:
        """A caller for one raw response: it traces its call and keeps the trace."""
        other = self._copy()
        other._record = True
        other.last_trace = None
        return other

    def raw_response(self, result: T) -> RawResponse[T]:
        """``result`` with the details of the reply it came from (after a recorded call)."""
        trace = self.last_trace
        if trace is None or trace.status is None:
            raise RuntimeError("no reply was recorded for this raw response")
        return RawResponse(
            status=trace.status,
            headers=trace.headers,
            elapsed=trace.elapsed,
            attempts=trace.attempt,
            wait=trace.total_wait,
            rate_limit=rate_limit_info(trace.headers),
            parsed=result,
        )

    async def call(
        self,
        endpoint: Endpoint[T],
        payload: Mapping[str, Any],
        retry: RetryPolicy | None,
        timeout: Timeout | None,
        priority: Priority | str | None = None,
    ) -> T:
        """Send one call, with retries, and return the endpoint's decoded result."""
        check.instance("retry", retry, RetryPolicy, "a RetryPolicy")
        rank = self.priority if priority is None else check.choice("priority", priority, Priority)
        call_timeout = self._timeout
        if timeout is not None:
            call_timeout = request_timeout(check.timeout(timeout))
        body = encode_body(payload)
        policy = retry or self.retry
        trace = self.telemetry.trace(endpoint.name, force=self._record)
        if trace is None:
            return await run_with_retries(
                functools.partial(
                    self.transport.attempt,
                    endpoint,
                    body,
                    timeout=call_timeout,
                    headers=self._request_headers,
                    priority=rank,
                ),
                endpoint=endpoint.name,
                idempotent=endpoint.idempotent,
                policy=policy,
            )
        if self._record:
            self.last_trace = trace
        with trace:
            return await run_with_retries(
                functools.partial(
                    self._traced_attempt, trace, endpoint, body, call_timeout, priority=rank
                ),
                endpoint=endpoint.name,
                idempotent=endpoint.idempotent,
                policy=policy,
                on_retry=trace.retrying,
            )

    async def _traced_attempt(
        self,
        trace: CallTrace,
        endpoint: Endpoint[T],
        body: bytes,
        timeout: RequestTimeout | None,
        time_left: Callable[[], float],
        *,
        priority: Priority,
    ) -> T:
        trace.begin_attempt()
        try:
            result = await self.transport.attempt(
                endpoint,
                body,
                time_left,
                timeout=timeout,
                headers=self._request_headers,
                trace=trace,
                priority=priority,
            )
        except YourGPTError as error:
            trace.end_attempt(error)
            raise
        trace.end_attempt(None)
        return result

    async def page(
        self,
        endpoint: _ListEndpoint[T],
        query: Mapping[str, Any],
        *,
        page: int,
        limit: int,
        retry: RetryPolicy | None,
        timeout: Timeout | None,
        priority: Priority | str | None = None,
    ) -> Page[T]:
        """Fetch one page of a list endpoint, able to fetch the pages after it."""
        page, limit = check.page_args(page, limit)
        payload = {**query, "page": page, "limit": limit}
        items, total = await self.call(endpoint, payload, retry, timeout, priority)

        async def fetch(number: int) -> Page[T]:
            return await self.page(
                endpoint,
                query,
                page=number,
                limit=limit,
                retry=retry,
                timeout=timeout,
                priority=priority,
            )

        return with_fetch(Page(items=items, page=page, limit=limit, total=total), fetch)

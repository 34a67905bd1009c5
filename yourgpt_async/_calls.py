"""One call of any declared endpoint, from a checked payload to its result, for both families.

A :class:`Caller` holds what a view of a client may change (retry policy, timeouts, headers)
over what every view shares (the :class:`~._transport.Transport`, the
:class:`~._telemetry.Telemetry` and the reconcilers). :meth:`Caller.call` encodes the body and
runs the attempts under the retry policy, watched by a :class:`~._telemetry.CallTrace` only when
something looks; with a reconciling policy, a create the endpoint can read back is settled by
its declared :class:`~._endpoints.Reconciler`. :meth:`Caller.page` makes a list reply a
:class:`~yourgpt_async.Page` that can fetch the pages after it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar

import attrs
from multidict import CIMultiDict

from . import _settings as settings
from . import _validate as check
from ._config import RetryPolicy, Timeouts
from ._endpoints import Endpoint, Family, Reconciler
from ._exceptions import ConfigurationError, YourGPTError
from ._replies import Listing
from ._retry import Budget, run_with_retries
from ._telemetry import CallTrace, Telemetry
from ._transport import RequestTimeout, Transport, request_timeout
from ._wire import encode_body
from .pacing._headers import rate_limit_info
from .types import Page, Priority, RawResponse
from .types._common import with_fetch

__all__ = ["Caller", "Reader", "Timeout", "request_headers"]

T = TypeVar("T")
P = TypeVar("P", bound=Page[Any])
Timeout = float | Timeouts

USER_AGENT: Final = "yourgpt-async/0.1.0"


def request_headers(
    credential: Mapping[str, str], default_headers: object, user_agent_suffix: object
) -> CIMultiDict[str]:
    """The headers of every request: the caller's defaults, the user agent, and the client's
    own (the credential's header, from the client, and the content type)."""
    extra = settings.headers("default_headers", default_headers)
    suffix = settings.user_agent_suffix(user_agent_suffix)
    headers = CIMultiDict({"User-Agent": USER_AGENT, "Accept": "application/json", **extra})
    if suffix is not None:
        headers["User-Agent"] = f"{headers['User-Agent']} {suffix}"
    headers.update({**credential, "Content-Type": "application/json"})
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
        self.headers = headers  # holds the key: never printed
        self.priority = Priority.INTERACTIVE
        self._timeout = request_timeout(timeouts)
        self._request_headers: CIMultiDict[str] | None = None
        self._record = False  # for one raw response: always trace, and keep the trace
        self.last_trace: CallTrace | None = None
        self._reconciling = False  # the recorded call went through its reconciler
        # Each endpoint's reconciler, made on first use; shared by every view of the client.
        self._reconcilers: dict[str, Reconciler[Any]] = {}

    @property
    def timeouts(self) -> Timeouts:
        """The timeouts of this caller's requests (the client's, or its view's)."""
        return self._timeout.timeouts

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
        extra = settings.headers("headers", headers)
        timeouts = None if timeout is None else settings.timeout(timeout)
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
        other._reconciling = False
        return other

    def raw_response(self, result: T) -> RawResponse[T]:
        """``result`` with the details of the reply it came from (after a recorded call).

        Only the call's own requests are recorded (read-backs go through :meth:`_plain`), so
        when the call went through its reconciler and the last of them failed, the result was
        settled by a read-back: the raw response is then marked ``reconciled``, with that
        request's status and headers, if any. (A delete whose retry met "Not found" also ends
        on a failed request, but nothing was read back.)
        """
        trace = self.last_trace
        if trace is None:
            raise RuntimeError("no request was recorded for this raw response")
        return RawResponse(
            status=trace.status,
            headers=trace.headers,
            elapsed=trace.elapsed,
            attempts=trace.attempt,
            wait=trace.total_wait,
            rate_limit=rate_limit_info(trace.headers),
            reconciled=self._reconciling and trace.error is not None,
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
        """Send one call, with retries, and return the endpoint's decoded result.

        With a policy that reconciles, a call the endpoint can read back is settled by its
        reconciler after an ambiguous failure, instead of raising ``DeliveryUnknownError``.
        """
        check.instance("retry", retry, RetryPolicy, "a RetryPolicy")
        rank = self.priority if priority is None else check.choice("priority", priority, Priority)
        call_timeout = self._timeout
        if timeout is not None:
            call_timeout = request_timeout(settings.timeout(timeout))
        policy = retry or self.retry
        if policy.reconcile and endpoint.reconcile is not None:
            reconciler = self._reconcilers.get(endpoint.name)
            if reconciler is None:
                reconciler = self._reconcilers[endpoint.name] = endpoint.reconcile()

            def send(budget: RetryPolicy) -> Awaitable[T]:
                return self._send(endpoint, payload, budget, call_timeout, rank)

            reader = Reader(self._plain(), timeout, rank)
            self._reconciling = self._record
            result: T = await reconciler(send, reader, payload, policy)
            return result
        return await self._send(endpoint, payload, policy, call_timeout, rank)

    def _plain(self) -> Caller:
        """This caller, not recording: read-backs must not pass for the call's own reply."""
        if not self._record:
            return self
        other = self._copy()
        other._record = False
        return other

    def _send(
        self,
        endpoint: Endpoint[T],
        payload: Mapping[str, Any],
        policy: RetryPolicy,
        call_timeout: RequestTimeout,
        rank: Priority,
    ) -> Awaitable[T]:
        """The call's attempts under ``policy``: a coroutine to await (no frame of its own on
        the common path, which pays for every coroutine it passes through)."""
        body = encode_body(payload)
        trace = self.telemetry.trace(endpoint.name, force=self._record)
        # What a create or a call keeps of its deadline for the request itself.
        total = call_timeout.timeouts.total
        if trace is None:
            return run_with_retries(
                functools.partial(
                    self.transport.attempt,
                    endpoint,
                    body,
                    timeout=call_timeout,
                    headers=self._request_headers,
                    priority=rank,
                ),
                endpoint=endpoint,
                policy=policy,
                total=total,
            )
        if self._record:
            self.last_trace = trace
        return self._send_traced(trace, endpoint, body, policy, call_timeout, rank, total)

    async def _send_traced(  # noqa: PLR0917 - private, the one caller passes each
        self,
        trace: CallTrace,
        endpoint: Endpoint[T],
        body: bytes,
        policy: RetryPolicy,
        call_timeout: RequestTimeout,
        rank: Priority,
        total: float | None,
    ) -> T:
        with trace:
            return await run_with_retries(
                functools.partial(
                    self._traced_attempt, trace, endpoint, body, call_timeout, priority=rank
                ),
                endpoint=endpoint,
                policy=policy,
                total=total,
                on_retry=trace.retrying,
            )

    async def _traced_attempt(
        self,
        trace: CallTrace,
        endpoint: Endpoint[T],
        body: bytes,
        timeout: RequestTimeout,
        budget: Budget,
        *,
        priority: Priority,
    ) -> T:
        trace.begin_attempt()
        try:
            result = await self.transport.attempt(
                endpoint,
                body,
                budget,
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
        endpoint: Endpoint[Listing[T]],
        query: Mapping[str, Any],
        *,
        page: int,
        limit: int,
        retry: RetryPolicy | None,
        timeout: Timeout | None,
        priority: Priority | str | None = None,
        max_limit: int = check.MAX_PAGE_SIZE,
    ) -> Page[T]:
        """Fetch one page of a list endpoint, able to fetch the pages after it.

        The page is of the class the endpoint's reply declares, with the listing's extras (the
        pending invitations beside the members) as its further attributes.
        """
        page, limit = check.page_args(page, limit, maximum=max_limit)
        payload = {**query, "page": page, "limit": limit}
        listing = await self.call(endpoint, payload, retry, timeout, priority)

        async def fetch(number: int) -> Page[T]:
            return await self.page(
                endpoint,
                query,
                page=number,
                limit=limit,
                retry=retry,
                timeout=timeout,
                priority=priority,
                max_limit=max_limit,
            )

        page_type: type[Page[T]] = endpoint.reply.page_type or Page
        made = page_type(
            items=listing.items, page=page, limit=limit, total=listing.total, **listing.extras
        )
        return with_fetch(made, fetch)


class Reader:
    """What a reconciler reads the service back with: the call's caller (never recording),
    timeout and priority, with a policy of the reconciler's choosing."""

    def __init__(self, caller: Caller, timeout: Timeout | None, priority: Priority) -> None:
        self._caller = caller
        self._timeout = timeout
        self._priority = priority

    @property
    def family(self) -> Family:
        """The API family of the credential the call is made with."""
        return self._caller.transport.family

    async def call(
        self, endpoint: Endpoint[T], payload: Mapping[str, Any], retry: RetryPolicy
    ) -> T:
        """One call of ``endpoint``."""
        return await self._caller.call(endpoint, payload, retry, self._timeout, self._priority)

    async def page(
        self,
        endpoint: Endpoint[Listing[T]],
        query: Mapping[str, Any],
        *,
        page: int,
        limit: int,
        retry: RetryPolicy,
    ) -> Page[T]:
        """One page of a list endpoint."""
        return await self._caller.page(
            endpoint,
            query,
            page=page,
            limit=limit,
            retry=retry,
            timeout=self._timeout,
            priority=self._priority,
        )

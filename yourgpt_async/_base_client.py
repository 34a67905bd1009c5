"""What both clients are: one credential, one aiohttp session, one limiter and gate, and views.

:class:`BaseClient` builds the request machinery from the options both clients take — the
:class:`~._transport.Transport` (session, limiter, gate), the :class:`~._telemetry.Telemetry`
and the :class:`~._calls.Caller` — with the credential's header given by the subclass, and
owns the lifecycle (``async with``, :meth:`aclose`), views (:meth:`with_options`) and
``with_raw_response``. :class:`~yourgpt_async.AsyncClient` (a project's key) and
:class:`~yourgpt_async.AsyncPlatformClient` (an organisation's token) add their endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Final, TypeVar

import aiohttp
from yarl import URL

from . import _settings as settings
from . import _validate as check
from ._calls import Caller, Timeout, request_headers
from ._config import DEFAULT_MAX_CONCURRENCY, RateLimit, RetryPolicy, Timeouts
from ._endpoints import Family
from ._resource import RawResponses
from ._telemetry import (
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    Telemetry,
    ThrottleEvent,
    setup_logging,
)
from ._transport import Transport
from .pacing._limiter import Limiter, LimiterFactory
from .pacing._local import make_limiter
from .types import Priority

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MAX_CONCURRENCY", "BaseClient"]

C = TypeVar("C", bound="BaseClient")

DEFAULT_BASE_URL: Final = "https://api.yourgpt.ai/chatbot/v1"
"""The service's base URL; every endpoint is ``POST <base>/<name>``."""

DEFAULT_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
"""Replies over this many bytes (4 MiB) are refused unread; see ``max_response_bytes``."""


class BaseClient:
    """The machinery both clients share; not made directly."""

    _is_view = False  # a view made by with_options() shares the transport it does not own
    _family: Family

    def __init__(
        self,
        *,
        credential: Mapping[str, str],
        secret: str,
        base_url: str | None,
        timeout: Timeout | None,
        retry: RetryPolicy | None,
        rate_limit: RateLimit | LimiterFactory | None,
        max_concurrency: int,
        session: aiohttp.ClientSession | None,
        max_response_bytes: int,
        default_headers: Mapping[str, str] | None,
        user_agent_suffix: str | None,
        on_request: Callable[[RequestEvent], object] | None,
        on_response: Callable[[ResponseEvent], object] | None,
        on_retry: Callable[[RetryEvent], object] | None,
        on_throttle: Callable[[ThrottleEvent], object] | None,
    ) -> None:
        setup_logging()
        url = check.from_env(base_url, "YOURGPT_BASE_URL")
        self._base_url: URL = settings.base_url(DEFAULT_BASE_URL if url is None else url)
        timeouts = Timeouts() if timeout is None else settings.timeout(timeout)
        check.instance("retry", retry, RetryPolicy, "a RetryPolicy")
        check.instance(
            "rate_limit", rate_limit, (RateLimit, LimiterFactory), "a RateLimit or a shared limiter"
        )
        check.positive_int("max_concurrency", max_concurrency)
        check.positive_int("max_response_bytes", max_response_bytes)
        check.instance("session", session, aiohttp.ClientSession, "an aiohttp.ClientSession")
        headers = request_headers(credential, default_headers, user_agent_suffix)
        self._max_concurrency = max_concurrency
        self._transport = Transport(
            base_url=self._base_url,
            headers=headers,
            timeouts=timeouts,
            limiter=make_limiter(rate_limit or RateLimit()),
            max_concurrency=max_concurrency,
            max_response_bytes=max_response_bytes,
            session=session,
            secrets=(secret,),
            family=self._family,
        )
        telemetry = Telemetry(
            self._transport.limiter,
            host=self._base_url.host or "",
            on_request=on_request,
            on_response=on_response,
            on_retry=on_retry,
            on_throttle=on_throttle,
        )
        self._caller = Caller(
            self._transport,
            telemetry,
            retry=retry or RetryPolicy(),
            timeouts=timeouts,
            headers=headers,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        view = " view" if self._is_view else ""
        state = "closed" if self._transport.closed else "open"
        return f"<{type(self).__name__}{view} base_url={str(self._base_url)!r} {state}>"

    async def __aenter__(self: C) -> C:
        self._transport.session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's own HTTP session (not one you passed in). Safe to call twice.

        On a view made by :meth:`with_options` it does nothing: the views share the client's
        session, which closes with the client.
        """
        if not self._is_view:
            await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._transport.closed

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return str(self._base_url)

    @property
    def limiter(self) -> Limiter:
        """The rate limiter this client paces its requests with."""
        return self._transport.limiter

    # -- views ---------------------------------------------------------------------------

    def with_options(
        self: C,
        *,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority | str | None = None,
    ) -> C:
        """A view of this client with other defaults, sharing its session, limiter and gate.

        Making one costs next to nothing, so it can be made per request or per task::

            fast = client.with_options(timeout=5, max_retries=0)

        The view's calls are paced and counted with the client's own; closing the client closes
        its views, and closing a view does nothing.

        Args:
            timeout: How long one attempt may take: seconds, or a :class:`Timeouts`.
            retry: The retry policy of the view's calls.
            max_retries: Retries after the first attempt (0 for none): ``retry`` (or the
                client's policy) with ``attempts = max_retries + 1``.
            headers: Headers to add to (or replace in) the client's, for every call of the view.
            priority: The :class:`Priority` of the view's calls (direct calls are interactive
                by default): ``"bulk"`` lets every interactive call go first.

        Returns:
            The view, a client of the same class; views of views add up.
        """
        view = self._fork()
        view._caller = self._caller.with_options(
            timeout=timeout,
            retry=retry,
            max_retries=max_retries,
            headers=headers,
            priority=priority,
        )
        return view

    @property
    def with_raw_response(self) -> RawResponses:
        """The endpoint methods (not ``iter_*``), each returning a :class:`RawResponse`.

        ``await client.with_raw_response.<method>(...)`` calls as ``<method>`` does and returns
        the reply's ``status``, ``headers``, ``request_id``, ``elapsed`` and more; its
        ``parse()`` gives what the method would have returned.
        """
        return RawResponses(self)

    def _fork(self: C) -> C:
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._is_view = True
        return view

    def _rebind(self: C, client: C) -> C:
        """What ``with_raw_response`` calls a method on: the view made for that one call."""
        return client

"""What every endpoint's results share: the ``raw``-keeping field, str enums, pages, raw replies.

Models know nothing of JSON; the rules that turn a reply into them live in ``_converter``.
Every model keeps the decoded dict it was made from in ``raw``, for fields it does not name.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

from .._pagination import PageWalk

__all__ = [
    "Page",
    "Priority",
    "RateLimitInfo",
    "RawResponse",
    "StrEnum",
    "raw_field",
    "with_fetch",
]

T = TypeVar("T")


class StrEnum(str, enum.Enum):
    """A str-valued enum whose ``str()`` is its value (like 3.11's StrEnum)."""

    def __str__(self) -> str:
        return str(self.value)


def raw_field() -> Any:
    """The ``raw`` field: the decoded dict, left out of repr and equality."""
    return attrs.field(factory=dict, repr=False, eq=False)


class Priority(StrEnum):
    """Which calls get the next free turn when the rate limit holds calls back.

    Direct calls (``send_message`` from a web handler, say) are interactive by default and
    ``send_many`` items bulk; set it per call (``priority=``), per view (``with_options``) or
    per run (``send_many(priority=...)``). A waiting interactive call goes ahead of every
    queued bulk call; bulk calls keep a small guaranteed share of the turns, so they never
    starve.
    """

    INTERACTIVE = "interactive"
    """Someone is waiting for the answer: goes first."""
    BULK = "bulk"
    """Background work: takes the turns interactive calls leave, and a small share always."""


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a list endpoint, which can fetch the pages after it.

    ``for item in page`` and ``len(page)`` see this page's items only; ``async for item in
    page`` goes on through every later page, fetching each as it is reached, and
    :meth:`get_next_page` fetches just the next one::

        page = await yg.get_sessions(limit=50)
        async for session in page:  # this page, then page 2, 3, ... until the last
            ...

    Attributes:
        items: The items on this page.
        page: The page number (from 1).
        limit: The page size asked for.
        total: How many items there are in all, when the service says.
        has_more: Whether a later page has items.
    """

    items: tuple[T, ...]
    page: int
    limit: int
    total: int | None = None
    # How the client fetches page n of the same query; set by the client, not by hand.
    _fetch: Callable[[int], Awaitable[Page[T]]] | None = attrs.field(
        default=None, init=False, repr=False, eq=False
    )

    @property
    def has_more(self) -> bool:
        """Whether a later page has items."""
        if self.total is not None:
            return self.page * self.limit < self.total
        return len(self.items) >= self.limit

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    async def get_next_page(self) -> Page[T] | None:
        """Fetch the page after this one, with the same query and page size.

        Returns:
            The next page, or ``None`` when this is the last one (``has_more`` is false, or
            the service sent this page's items again, as a service that ignores the page
            number does).

        Raises:
            RuntimeError: The page was made by hand, not fetched by a client.
        """
        if not self.has_more:
            return None
        if self._fetch is None:
            raise RuntimeError("this Page was not fetched by a client, so it cannot fetch more")
        following = await self._fetch(self.page + 1)
        if following.items and following.items == self.items:
            return None  # the service ignored `page`: stop rather than loop forever
        return following

    async def __aiter__(self) -> AsyncIterator[T]:
        """Every item of this page and of each later page, fetching pages as needed."""
        walk = PageWalk()  # stops a service that repeats pages or runs past its total
        page: Page[T] | None = self
        while page is not None and walk.is_new(page):
            for item in page.items:
                yield item
            if walk.is_last(page):
                return
            page = await page.get_next_page()


def with_fetch(page: Page[T], fetch: Callable[[int], Awaitable[Page[T]]]) -> Page[T]:
    """``page``, able to fetch later pages with ``fetch(number)`` (the client's doing)."""
    object.__setattr__(page, "_fetch", fetch)
    return page


@attrs.frozen(kw_only=True)
class RateLimitInfo:
    """What a reply's rate-limit headers said, when it had any.

    Read from ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset``, the IETF draft's
    ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset``, or its ``RateLimit`` and
    ``RateLimit-Policy``. The service is not known to send any of them.

    Attributes:
        limit: Requests allowed per window.
        remaining: Requests left in the current window.
        reset: Seconds until the window resets.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None


@attrs.frozen(kw_only=True)
class RawResponse(Generic[T]):
    """A call's result with the HTTP details of the reply it came from, from
    ``client.with_raw_response``.

    The details are always those of the call's own request, never of a request the client
    made to check on it. With ``RetryPolicy(reconcile=True)``, a send whose reply was lost or
    unusable (a dropped connection, a 502 after storing) can still succeed, settled by reading
    the service back: ``reconciled`` is then true, and ``status``, ``headers`` and
    ``request_id`` are those of the send's last reply, if one came (the 502), else ``None``
    and empty. A send that was found missing and sent again reports the reply to the one that
    succeeded.

    Attributes:
        status: The HTTP status of the reply (200), or ``None`` when the call's own reply was
            lost and a read-back settled it.
        headers: The reply's headers (case-insensitive); empty when no reply came.
        elapsed: Seconds from sending the request that succeeded to its last byte read.
        attempts: How many HTTP requests the call made, this one included.
        wait: Seconds the call waited for a turn (the concurrency gate and the rate limiter)
            before its requests, over all attempts; retry backoff not included.
        rate_limit: What the reply's rate-limit headers said, or ``None`` without them.
        reconciled: Whether the result was found by reading the service back after the
            call's own reply was lost or unusable (see above).
    """

    status: int | None
    headers: Mapping[str, str] = attrs.field(repr=False)
    elapsed: float
    attempts: int
    wait: float
    rate_limit: RateLimitInfo | None = None
    reconciled: bool = False
    _parsed: T = attrs.field(alias="parsed", repr=False)

    @property
    def request_id(self) -> str | None:
        """The service's ``x-request-id`` for this reply, to quote when asking for support."""
        return self.headers.get("x-request-id")

    def parse(self) -> T:
        """The decoded result: what the method called without ``with_raw_response`` returns."""
        return self._parsed

"""The typed replies of the API: enums and frozen attrs models.

Models know nothing of JSON; the rules that turn a reply into them live in ``_converter``.
Every model keeps the decoded dict it was made from in ``raw``, for fields it does not name.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from ._pagination import PageWalk

__all__ = [
    "AILogEntry",
    "ChatMode",
    "Choice",
    "ContentType",
    "Message",
    "Page",
    "Priority",
    "RateLimitInfo",
    "RawResponse",
    "SendBy",
    "Session",
    "SessionMessage",
    "SessionState",
]

T = TypeVar("T")


class _StrEnum(str, enum.Enum):
    """A str-valued enum whose ``str()`` is its value (like 3.11's StrEnum)."""

    def __str__(self) -> str:
        return str(self.value)


class SendBy(_StrEnum):
    """Who a message is sent as."""

    USER = "user"
    """The end user: the AI answers (unless a human operator has taken over)."""
    OPERATOR = "operator"
    """A human operator: the session switches to operator mode and the AI stops answering."""
    ASSISTANT = "assistant"
    """The bot itself (a system or scripted message): no AI answer."""


class Priority(_StrEnum):
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


class ChatMode(_StrEnum):
    """Who answers the visitor in a session."""

    BOT = "bot"
    """The AI answers every user message."""
    AWAITING = "awaiting"
    """The session waits for a human operator; the AI stays silent."""
    OPERATOR = "operator"
    """A human operator has taken over; the AI stays silent."""


class SessionState(_StrEnum):
    """The state of a session's conversation."""

    PENDING = "pending"
    """Open, the state of a new session."""
    UNRESOLVED = "unresolved"
    """Marked as not resolved."""
    RESOLVED = "resolved"
    """Resolved; setting it hands the session back to the bot."""
    CLOSED = "closed"
    """Closed."""


class ContentType(_StrEnum):
    """The kind of content a message carries."""

    TEXT = "text"
    """Plain text."""
    PICKER = "picker"
    """Text with buttons to pick from, in ``choices``."""
    IMAGE = "image"
    """An image."""
    AUDIO = "audio"
    """An audio clip."""
    VIDEO = "video"
    """A video."""
    FILE = "file"
    """A file."""


def _raw() -> Any:
    """The ``raw`` field: the decoded dict, left out of repr and equality."""
    return attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class Choice:
    """One button of a picker message (e.g. like / dislike / request a human operator).

    Attributes:
        text: The button's label, e.g. ``"Request a human operator"``.
        value: What picking it means, e.g. ``"requesthumanoperator"``.
        icon: An emoji or icon name shown with it, if any.
        enabled: Whether it can be picked.
    """

    text: str = ""
    value: str = ""
    icon: str | None = None
    enabled: bool = True


@attrs.frozen(kw_only=True)
class Message:
    """A message as ``sendMessage`` returns it: the AI's reply, or the stored message itself.

    Attributes:
        id: The message id.
        session_uid: The session it belongs to.
        message: The text.
        send_by: Who sent it; an unknown value is kept as a plain ``str``.
        content_type: ``text``, ``picker``, ...; an unknown value is kept as a plain ``str``.
        choices: The buttons of a picker message (empty otherwise).
        type: The service's message type (``"text"``).
        origin: Where the message came from (``"api"``).
        raw: The decoded reply ``data``, with any field this model does not name.
    """

    id: int | None = None
    session_uid: str | None = None
    message: str = ""
    send_by: SendBy | str | None = None
    content_type: ContentType | str | None = None
    choices: tuple[Choice, ...] = ()
    type: str | None = None
    origin: str | None = None
    raw: Mapping[str, Any] = _raw()

    @property
    def message_id(self) -> int | None:
        """The message id (the service sends it twice, as ``id`` and ``message_id``)."""
        return self.id


@attrs.frozen(kw_only=True)
class Session:
    """A chat session, as createSession, updateSession and getSessions return it.

    Fields getSessions adds (``last_message`` and friends) are ``None`` elsewhere.

    Attributes:
        id: The numeric id.
        session_uid: The id every other call takes; always a ``str``, even when the service
            sends a 17-digit JSON number.
        chat_mode: ``bot``, ``awaiting`` or ``operator``; an unknown value (some replies say
            ``"1"``) is kept as a plain ``str``.
        state: ``pending``, ``unresolved``, ``resolved`` or ``closed`` (or an unknown ``str``).
        segment: Comma-separated tags.
        created_at: When it was created (aware, UTC), from ``createdAt`` or ``created_at``.
        updated_at: When it last changed, from ``updatedAt`` or ``updated_at``.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    session_uid: str = ""
    chat_mode: ChatMode | str | None = None
    state: SessionState | str | None = None
    status: str | None = None
    segment: str | None = None
    project_id: int | None = None
    integration_id: int | None = None
    device_type: str | None = None
    platform: str | None = None
    ip: str | None = None
    country: str | None = None
    visitor_id: str | None = None
    contact_id: str | None = None
    is_emulator: bool | None = None
    language: str | None = None
    data: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    total_unseen: int | None = None
    last_message: str | None = None
    last_message_id: int | None = None
    last_message_time: datetime | None = None
    last_message_content_type: ContentType | str | None = None
    last_message_type: str | None = None
    visitor_data: Mapping[str, Any] | None = None
    contact_data: Mapping[str, Any] | None = None
    session_meta: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(kw_only=True)
class AILogEntry:
    """Links a user's message to the AI reply it produced.

    Attributes:
        id: The log entry's id.
        query_message_id: The id of the user's message.
        reply_message_id: The id of the AI's reply.
        source_node: Where the answer came from, as the service reports it.
    """

    id: int | None = None
    query_message_id: int | None = None
    reply_message_id: int | None = None
    source_node: Any = None


@attrs.frozen(kw_only=True)
class SessionMessage:
    """A message as getSessionMessages returns it.

    Attributes:
        id: The message id.
        session_id: The numeric id of the session (not its ``session_uid``).
        send_by: ``user``, ``operator`` or ``assistant`` (or an unknown ``str``).
        message: The text.
        content_type: ``text``, ``picker``, ... (or an unknown ``str``).
        choices: The buttons of a picker message (empty otherwise).
        created_at: When it was stored (aware, UTC).
        ai_log: For an AI reply, which message it answered.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    session_id: int | None = None
    send_by: SendBy | str | None = None
    message: str | None = None
    content_type: ContentType | str | None = None
    choices: tuple[Choice, ...] = ()
    type: str | None = None
    rate: Any = None
    seen: bool | None = None
    delivered: bool | None = None
    sender_id: str | None = None
    url: str | None = None
    targets: Any = None
    provider_message_id: str | None = None
    streaming: bool | None = None
    response_source: str | None = None
    extra_data: Any = None
    created_at: datetime | None = None
    deleted_at: datetime | None = None
    ai_log: tuple[AILogEntry, ...] = ()
    raw: Mapping[str, Any] = _raw()


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
    """A successful reply with its HTTP details, from ``client.with_raw_response``.

    Attributes:
        status: The HTTP status of the reply (200).
        headers: The reply's headers (case-insensitive).
        elapsed: Seconds from sending the request that succeeded to its last byte read.
        attempts: How many HTTP requests the call made, this one included.
        wait: Seconds the call waited for a turn (the concurrency gate and the rate limiter)
            before its requests, over all attempts; retry backoff not included.
        rate_limit: What the reply's rate-limit headers said, or ``None`` without them.
    """

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    elapsed: float
    attempts: int
    wait: float
    rate_limit: RateLimitInfo | None = None
    _parsed: T = attrs.field(alias="parsed", repr=False)

    @property
    def request_id(self) -> str | None:
        """The service's ``x-request-id`` for this reply, to quote when asking for support."""
        return self.headers.get("x-request-id")

    def parse(self) -> T:
        """The decoded result: what the method called without ``with_raw_response`` returns."""
        return self._parsed

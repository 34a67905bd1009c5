"""Settling an ambiguous send against the service's own record of the session.

The API has no idempotency keys, so when ``sendMessage`` fails after the request left (a dropped
connection, a timeout, a 5xx, a 2xx that cannot be read) the client cannot know from the
failure whether the message was stored. The service keeps a record, though: getSessionMessages
lists what the session holds, with sender, text and time. With ``RetryPolicy(reconcile=True)``
the client reads the session's newest messages back and decides, with :func:`decide`:

- **delivered**: exactly one message like it is in the session since the call began, from the
  same sender, with the same text: it is returned (with the AI's answer when that is stored);
- **not delivered**: none is there, and the service has had ``settle`` seconds since the failure
  to finish whatever it was doing: it is sent again, through the normal retry path;
- **undecidable**: anything else (the read-back failed, two messages like it, one from before
  the call, another send of the same text overlapping this one, too many messages to read back,
  no time left): :class:`~yourgpt_async.DeliveryUnknownError`, as without reconciling.

The watermark is the wall-clock time the call began, compared with the service's ``createdAt``.
It costs nothing when a send succeeds (a watermark by message id would cost a read before every
send). Clocks drift, so it is used twice: "not delivered" needs the session to hold no message
like it over the last ``clock_skew`` seconds before the call began (60 by default), so a skewed
timestamp cannot hide the message and cause a duplicate; "delivered" needs the one message like
it to be stamped no earlier than ``SAME_MOMENT`` (2 s) before the call began, so an identical
message sent a minute earlier is never taken for this one. An identical send of this same client
is tracked in :class:`Sending` rather than by time.
"""

from __future__ import annotations

import enum
import html
import itertools
import logging
import time
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Final, Generic, TypeVar

import attrs

from ._config import RetryPolicy
from .types import Page, SessionMessage

__all__ = [
    "READ_BACK_LIMIT",
    "READ_BACK_PAGES",
    "SAME_MOMENT",
    "Found",
    "Outcome",
    "ReadPage",
    "Sending",
    "Target",
    "Ticket",
    "Verdict",
    "decide",
    "undecidable",
]

logger = logging.getLogger("yourgpt_async")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

SAME_MOMENT: Final = 2.0
"""Seconds before a call began that a stored message may still be stamped and be the call's own:
timestamps may be cut to whole seconds, and two synchronised clocks still differ a little."""
READ_BACK_LIMIT: Final = 50
"""Messages per read-back request (newest first)."""
READ_BACK_PAGES: Final = 4
"""Most read-back requests per look: past 200 recent messages the session cannot be settled."""
_CUT_SHORT: Final = 64
"""A stored text at least this long that begins the sent one (or is begun by it) may be the sent
message cut short by the service: it makes the send undecidable, never "not delivered"."""

Key = tuple[str, str, str]
ReadPage = Callable[[int, RetryPolicy], Awaitable[Page[SessionMessage]]]


class Outcome(enum.Enum):
    """What the read-back showed."""

    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    NOT_YET = "not_yet"
    """Not there, but the service has not had ``settle`` seconds yet: look again later."""
    UNDECIDABLE = "undecidable"


@attrs.frozen
class Found(Generic[T_co]):
    """What reading the service back found of a call left in doubt: the outcome, why, and for a
    delivered call what it made (the created item, or the message and the AI's reply to it)."""

    outcome: Outcome
    reason: str = ""
    item: T_co | None = None


@attrs.frozen
class Verdict:
    """The decision, why, and for a delivered message the message and the AI's reply to it."""

    outcome: Outcome
    reason: str = ""
    message: SessionMessage | None = None
    reply: SessionMessage | None = None


def undecidable(reason: str) -> Verdict:
    return Verdict(Outcome.UNDECIDABLE, reason)


def normalise(text: str) -> str:
    """Text as compared: entities unescaped, NFC, runs of white space as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", html.unescape(text)).split())


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


@attrs.frozen
class Target:
    """The send being settled: where it went, who sent it, what it said, and its watermarks.

    Attributes:
        session_uid: The session.
        sender: ``send_by``'s value (``"user"``, ``"operator"``, ``"assistant"``).
        text: The text, normalised.
        started: When the call began, in seconds since the epoch (this machine's clock).
        tight: A message stamped before this is not the call's own.
        wide: No message like it since this means it was not delivered.
    """

    session_uid: str
    sender: str
    text: str
    started: float
    tight: datetime
    wide: datetime

    @classmethod
    def of(
        cls, session_uid: str, text: str, sender: str, *, started: float, clock_skew: float
    ) -> Target:
        """The target of a send that began at ``started`` (``time.time()``)."""
        return cls(
            session_uid=session_uid,
            sender=sender,
            text=normalise(text),
            started=started,
            tight=_utc(started - SAME_MOMENT),
            wide=_utc(started - max(clock_skew, SAME_MOMENT)),
        )

    @property
    def key(self) -> Key:
        """What makes two sends the same: session, sender and text."""
        return (self.session_uid, self.sender, self.text)


# -- the decision (pure) ---------------------------------------------------------------------


def _newest_first(messages: Sequence[SessionMessage]) -> bool:
    """Whether the listing runs newest first, by time where stamped, else by id."""
    for newer, older in itertools.pairwise(messages):
        if newer.created_at is not None and older.created_at is not None:
            if older.created_at > newer.created_at:
                return False
        elif newer.id is not None and older.id is not None and older.id > newer.id:
            return False
    return True


def _alike(message: SessionMessage, target: Target) -> bool:
    """Whether ``message`` could be the sent one: the same text, or the text cut short."""
    text = normalise(message.message or "")
    if not text:
        return False
    if text == target.text:
        return True
    short, long = sorted((text, target.text), key=len)
    return len(short) >= _CUT_SHORT and long.startswith(short)


def _reply_to(message: SessionMessage, messages: Sequence[SessionMessage]) -> SessionMessage | None:
    """The AI's answer to ``message``, linked by its AI log, if it is stored."""
    if message.id is None:
        return None
    for other in messages:
        if other is not message and any(e.query_message_id == message.id for e in other.ai_log):
            return other
    return None


def _listing_problem(
    target: Target, messages: Sequence[SessionMessage], *, complete: bool
) -> str | None:
    """Why the messages read back cannot settle anything, if they cannot."""
    if not _newest_first(messages):
        return "the service did not list the session's messages newest first"
    if not complete:
        return (
            f"the session holds more than {READ_BACK_LIMIT * READ_BACK_PAGES} messages since "
            f"{target.wide:%H:%M:%S} UTC, too many to read back"
        )
    return None


def _found_problem(found: SessionMessage, target: Target, *, overlapped: bool) -> str | None:
    """Why the one message like the send found may not be the send's own, if it may not."""
    if overlapped:
        return "another send of the same text into this session by this client overlapped this one"
    if normalise(found.message or "") != target.text or str(found.send_by) != target.sender:
        return "the session holds a message like it, but from another sender or with other text"
    if found.created_at is None or found.created_at < target.tight:
        return (
            "the only message like it was stored before this call began: an earlier identical "
            f"message, or this machine's clock is more than {SAME_MOMENT:g}s ahead of the service's"
        )
    return None


def decide(
    target: Target,
    messages: Sequence[SessionMessage],
    *,
    complete: bool,
    settled: bool,
    overlapped: bool = False,
) -> Verdict:
    """Decide from the messages read back (newest first) whether ``target`` was delivered.

    Args:
        target: The send.
        messages: The session's newest messages, newest first, without repeats.
        complete: Whether they reach back past ``target.wide`` (or to the session's start).
        settled: Whether the service has had ``settle`` seconds since the failure.
        overlapped: Whether another send of the same text into the same session by this client
            overlapped this one (its message would look like this one's).

    Returns:
        DELIVERED with the message (and the AI's reply, if stored), NOT_DELIVERED (NOT_YET while
        not ``settled``), or UNDECIDABLE with the reason.
    """
    problem = _listing_problem(target, messages, complete=complete)
    if problem is not None:
        return undecidable(problem)
    alike = [
        message
        for message in messages
        if (message.created_at is None or message.created_at >= target.wide)
        and _alike(message, target)
    ]
    if not alike:
        outcome = Outcome.NOT_DELIVERED if settled else Outcome.NOT_YET
        return Verdict(outcome, "the session does not hold it" + ("" if settled else " yet"))
    if len(alike) > 1:
        return undecidable(
            f"the session holds {len(alike)} messages like it since {target.wide:%H:%M:%S} UTC"
        )
    found = alike[0]
    problem = _found_problem(found, target, overlapped=overlapped)
    if problem is not None:
        return undecidable(problem)
    return Verdict(Outcome.DELIVERED, "found", message=found, reply=_reply_to(found, messages))


# -- this client's own sends -----------------------------------------------------------------


class Ticket:
    """One send being reconciled; ``overlapped`` once a send of the same key overlaps it."""

    __slots__ = ("key", "overlapped")

    def __init__(self, key: Key, *, overlapped: bool) -> None:
        self.key = key
        self.overlapped = overlapped


class Sending:
    """The reconciled sends of one client, by session, sender and text.

    Two sends of the same text into the same session by this client cannot be told apart in
    the session: each marks the other as overlapped, and so does one that ended less than
    ``SAME_MOMENT`` before the other began (its message could be stamped inside the other's
    window). An overlapped send is never settled as delivered. Time here is the monotonic clock.
    """

    def __init__(self) -> None:
        self._active: dict[Key, list[Ticket]] = {}
        self._ended: dict[Key, float] = {}
        self._ends: deque[tuple[float, Key]] = deque()

    def enter(self, key: Key) -> Ticket:
        """Note that a send of ``key`` begins."""
        now = time.monotonic()
        self._forget(now)
        others = self._active.setdefault(key, [])
        ticket = Ticket(key, overlapped=bool(others) or key in self._ended)
        for other in others:
            other.overlapped = True
        others.append(ticket)
        return ticket

    def leave(self, ticket: Ticket) -> None:
        """Note that a send has ended."""
        now = time.monotonic()
        others = self._active[ticket.key]
        others.remove(ticket)
        if not others:
            del self._active[ticket.key]
        self._ended[ticket.key] = now
        self._ends.append((now, ticket.key))
        self._forget(now)

    def _forget(self, now: float) -> None:
        ends = self._ends
        while ends and ends[0][0] < now - SAME_MOMENT:
            ended, key = ends.popleft()
            if self._ended.get(key) == ended:
                del self._ended[key]

    def __len__(self) -> int:
        """Keys remembered: sends in progress or ended within ``SAME_MOMENT``."""
        return len(self._active.keys() | self._ended.keys())

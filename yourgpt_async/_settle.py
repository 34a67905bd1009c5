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
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Final, TypeVar

import attrs

from ._config import RetryPolicy
from ._exceptions import DeliveryUnknownError, YourGPTError
from ._models import Message, Page, SessionMessage

__all__ = [
    "READ_BACK_LIMIT",
    "READ_BACK_PAGES",
    "SAME_MOMENT",
    "Outcome",
    "SettleReport",
    "Target",
    "Verdict",
    "decide",
    "look",
    "send_reconciled",
    "settle",
    "settle_earlier",
    "track",
]

logger = logging.getLogger("yourgpt_async")

T = TypeVar("T")

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
class Verdict:
    """The decision, why, and for a delivered message the message and the AI's reply to it."""

    outcome: Outcome
    reason: str = ""
    message: SessionMessage | None = None
    reply: SessionMessage | None = None


def _undecidable(reason: str) -> Verdict:
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
        return _undecidable(problem)
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
        return _undecidable(
            f"the session holds {len(alike)} messages like it since {target.wide:%H:%M:%S} UTC"
        )
    found = alike[0]
    problem = _found_problem(found, target, overlapped=overlapped)
    if problem is not None:
        return _undecidable(problem)
    return Verdict(Outcome.DELIVERED, "found", message=found, reply=_reply_to(found, messages))


# -- reading back ----------------------------------------------------------------------------


@attrs.define
class SettleReport:
    """What reconciling did within one task (the bulk engine reads it per item).

    Attributes:
        read_backs: getSessionMessages calls made to settle sends.
        settled: Whether a send was found delivered by a read-back.
        on_wait: Called with ``True`` when a settle wait begins and ``False`` when it ends (the
            bulk engine lets another item start meanwhile: a waiting item sends nothing).
    """

    read_backs: int = 0
    settled: bool = False
    on_wait: Callable[[bool], None] | None = None


_REPORT: ContextVar[SettleReport | None] = ContextVar("yourgpt_async_settle", default=None)


def track(on_wait: Callable[[bool], None] | None = None) -> SettleReport:
    """Count what reconciling does from here on in the current task (and the calls it awaits)."""
    report = SettleReport(on_wait=on_wait)
    _REPORT.set(report)
    return report


async def _wait(policy: RetryPolicy, seconds: float) -> None:
    """Wait for the service to settle, telling the task's report when it starts and ends."""
    report = _REPORT.get()
    hook = None if report is None else report.on_wait
    if hook is not None:
        hook(True)
    try:
        await policy.sleep(seconds)
    finally:
        if hook is not None:
            hook(False)


def _note_read_back() -> None:
    report = _REPORT.get()
    if report is not None:
        report.read_backs += 1


def _budget(policy: RetryPolicy, deadline_at: float) -> RetryPolicy | None:
    """The policy for one read-back: the call's retries, within what is left of its deadline."""
    left = deadline_at - policy.clock()
    if left <= 0:
        return None
    return attrs.evolve(policy, deadline=left, reconcile=False)


def _reaches(message: SessionMessage, since: datetime) -> bool:
    return message.created_at is not None and message.created_at < since


async def look(
    read: ReadPage,
    target: Target,
    *,
    policy: RetryPolicy,
    deadline_at: float,
    settled: bool,
    overlapped: Callable[[], bool] = lambda: False,
) -> Verdict:
    """Read the session back, newest first, until past ``target.wide``, and :func:`decide`.

    Each page is one ``read`` through the client (its limiter, its retries), within what is left
    of ``deadline_at`` (on ``policy.clock``). A read that fails makes the send undecidable.
    """
    messages: list[SessionMessage] = []
    seen: set[int] = set()
    complete = False
    for number in range(1, READ_BACK_PAGES + 1):
        budget = _budget(policy, deadline_at)
        if budget is None:
            return _undecidable("the call's deadline left no time to read the session back")
        _note_read_back()
        try:
            page = await read(number, budget)
        except YourGPTError as error:
            return _undecidable(f"the read-back failed: {error}")
        # A message stored meanwhile shifts the pages: skip what was already read.
        fresh = [m for m in page.items if m.id is None or m.id not in seen]
        seen.update(m.id for m in fresh if m.id is not None)
        messages.extend(fresh)
        if not page.items or not page.has_more or _reaches(page.items[-1], target.wide):
            complete = True
            break
    return decide(target, messages, complete=complete, settled=settled, overlapped=overlapped())


async def settle(
    read: ReadPage,
    target: Target,
    *,
    policy: RetryPolicy,
    failed_at: float,
    deadline_at: float,
    overlapped: Callable[[], bool] = lambda: False,
) -> Verdict:
    """Settle a send that just failed ambiguously (at ``failed_at``, on ``policy.clock``).

    Looks at once, which finds a message stored before the failure; if it is not there, waits
    until the service has had ``policy.settle`` seconds since the failure and looks again.
    """
    verdict = await look(
        read,
        target,
        policy=policy,
        deadline_at=deadline_at,
        settled=policy.settle == 0,
        overlapped=overlapped,
    )
    if verdict.outcome is not Outcome.NOT_YET:
        return verdict
    ready = failed_at + policy.settle
    if ready >= deadline_at:
        return _undecidable(
            "the session does not hold it yet, and the call's deadline ends before the service "
            f"has had settle={policy.settle:g}s to store it"
        )
    wait = ready - policy.clock()
    if wait > 0:
        await _wait(policy, wait)
    return await look(
        read, target, policy=policy, deadline_at=deadline_at, settled=True, overlapped=overlapped
    )


async def settle_earlier(read: ReadPage, target: Target, *, policy: RetryPolicy) -> Verdict:
    """Settle a send an earlier process began at ``target.started`` and never saw end.

    That call's requests were over by ``started + deadline`` at the latest, so the service has
    had ``settle`` seconds once ``started + deadline + settle`` has passed; until then a missing
    message is looked for again then (the wait runs on ``policy.sleep``).
    """
    ready = target.started + policy.deadline + policy.settle
    verdict = await look(
        read,
        target,
        policy=policy,
        deadline_at=policy.clock() + policy.deadline,
        settled=time.time() >= ready,
    )
    if verdict.outcome is not Outcome.NOT_YET:
        return verdict
    await _wait(policy, max(0.0, ready - time.time()))
    return await look(
        read, target, policy=policy, deadline_at=policy.clock() + policy.deadline, settled=True
    )


def as_message(verdict: Verdict, session_uid: str) -> Message:
    """What ``send_message`` returns for a send found delivered: the AI's reply if stored, else
    the stored message itself (``send_by`` then says which)."""
    found = verdict.reply or verdict.message
    assert found is not None
    return Message(
        id=found.id,
        session_uid=session_uid,
        message=found.message or "",
        send_by=found.send_by,
        content_type=found.content_type,
        choices=found.choices,
        type=found.type,
        raw=found.raw,
    )


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


# -- a send with reconciliation --------------------------------------------------------------


def _undecided(failure: DeliveryUnknownError, reason: str, attempts: int) -> DeliveryUnknownError:
    # What happened, without the advice to check or resend: the client has checked.
    what = failure.message.split("; check (e.g.", 1)[0]
    failure.message = (
        f"{what}; reading the session back did not settle it: {reason}. Look for the message "
        "among the session's messages before sending it again"
    )
    failure.args = (failure.message,)
    failure.attempts = attempts
    return failure


def _not_delivered(failure: DeliveryUnknownError, attempts: int) -> YourGPTError:
    """The last attempt's own error, saying that the read-back showed it was not delivered."""
    cause = failure.__cause__
    error = cause if isinstance(cause, YourGPTError) else failure
    error.message = (
        f"{error.message}; reading the session back showed the message was not delivered, "
        "and no attempt or time was left to send it again"
    )
    error.args = (error.message,)
    error.attempts = attempts
    return error


async def send_reconciled(
    send: Callable[[RetryPolicy], Awaitable[T]],
    read: ReadPage,
    target: Target,
    policy: RetryPolicy,
    sending: Sending,
) -> T | Message:
    """Send with ``send`` (one call with retries); settle a :class:`DeliveryUnknownError`.

    Delivered: the message found (or the AI's reply to it) is returned. Not delivered: sent
    again through ``send``, with the attempts and the deadline left. Undecidable: the
    ``DeliveryUnknownError``, its message saying why. Attempts and the deadline count the whole
    call, read-backs and the settle wait included.
    """
    ticket = sending.enter(target.key)
    try:
        return await _rounds(send, read, target, policy, ticket)
    finally:
        sending.leave(ticket)


async def _rounds(
    send: Callable[[RetryPolicy], Awaitable[T]],
    read: ReadPage,
    target: Target,
    policy: RetryPolicy,
    ticket: Ticket,
) -> T | Message:
    deadline_at = policy.clock() + policy.deadline
    used = 0
    budget = policy
    while True:
        try:
            return await send(budget)
        except DeliveryUnknownError as unknown:
            failure = unknown
        except YourGPTError as error:
            error.attempts += used
            raise
        used += failure.attempts
        verdict = await settle(
            read,
            target,
            policy=policy,
            failed_at=policy.clock(),
            deadline_at=deadline_at,
            overlapped=lambda: ticket.overlapped,
        )
        logger.info("sendMessage: read back: %s (%s)", verdict.outcome.value, verdict.reason)
        if verdict.outcome is Outcome.DELIVERED:
            report = _REPORT.get()
            if report is not None:
                report.settled = True
            return as_message(verdict, target.session_uid)
        if verdict.outcome is Outcome.UNDECIDABLE:
            raise _undecided(failure, verdict.reason, used)
        left = deadline_at - policy.clock()
        if used >= policy.attempts or left <= 0:
            raise _not_delivered(failure, used)
        budget = attrs.evolve(policy, attempts=policy.attempts - used, deadline=left)

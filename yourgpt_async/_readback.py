"""Reading a session back to settle an ambiguous send, and a send that does so.

The decision itself is pure and lives in :mod:`._settle`; this module does the I/O around it:
:func:`look` and :func:`settle` read the session's newest messages through the client (the same
limiter, retries and deadline as any call), :func:`send_reconciled` sends and, after a
:class:`~yourgpt_async.DeliveryUnknownError`, settles and sends again if the message is not
there, and :func:`track` lets the bulk engine count read-backs per item. The round loop
(:func:`resend_rounds`) and the settle waits (:func:`settle_by_looking`,
:func:`settle_earlier_by_looking`) take what to look with, so ``_reconcile``'s creates share
them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

import attrs

from ._config import RetryPolicy
from ._exceptions import DeliveryUnknownError, YourGPTError
from ._replies import Listing
from ._settle import (
    READ_BACK_LIMIT,
    READ_BACK_PAGES,
    Found,
    Outcome,
    ReadPage,
    Sending,
    Target,
    Verdict,
    decide,
    undecidable,
)
from .types import Message, Page, SessionMessage

__all__ = [
    "SESSION_WORDING",
    "MessageReconciler",
    "SettleReport",
    "Settled",
    "Wording",
    "as_message",
    "look",
    "resend_rounds",
    "send_reconciled",
    "settle",
    "settle_by_looking",
    "settle_earlier",
    "settle_earlier_by_looking",
    "track",
]

if TYPE_CHECKING:
    from ._endpoints import Endpoint, ReadBack

logger = logging.getLogger("yourgpt_async")

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound=YourGPTError)


class Settled(Protocol):
    """What a read-back decides, whatever it read (a :class:`Verdict`, a :class:`Found`)."""

    @property
    def outcome(self) -> Outcome: ...

    @property
    def reason(self) -> str: ...


V = TypeVar("V", bound=Settled)

# -- reading back ----------------------------------------------------------------------------


@attrs.define
class SettleReport:
    """What reconciling did within one task (the bulk engine reads it per item).

    Attributes:
        read_backs: List requests made to settle calls (getSessionMessages for a send, the
            created items' list for a create).
        settled: Whether a call was found delivered by a read-back.
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
    """Count one read-back request in the task's report, if it keeps one."""
    report = _REPORT.get()
    if report is not None:
        report.read_backs += 1


def _note_settled() -> None:
    """Note in the task's report that a read-back found its call delivered."""
    report = _REPORT.get()
    if report is not None:
        report.settled = True


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
            return undecidable("the call's deadline left no time to read the session back")
        _note_read_back()
        try:
            page = await read(number, budget)
        except YourGPTError as error:
            return undecidable(f"the read-back failed: {error}")
        # A message stored meanwhile shifts the pages: skip what was already read.
        fresh = [m for m in page.items if m.id is None or m.id not in seen]
        seen.update(m.id for m in fresh if m.id is not None)
        messages.extend(fresh)
        if not page.items or not page.has_more or _reaches(page.items[-1], target.wide):
            complete = True
            break
    return decide(target, messages, complete=complete, settled=settled, overlapped=overlapped())


async def settle_by_looking(
    look: Callable[[bool], Awaitable[V]],
    policy: RetryPolicy,
    *,
    failed_at: float,
    deadline_at: float,
    too_late: Callable[[], V],
) -> V:
    """Settle a call that just failed ambiguously (at ``failed_at``, on ``policy.clock``) with
    ``look(settled)``, whatever it reads.

    Looks at once, which finds what was stored before the failure; if it is not there, waits
    until the service has had ``policy.settle`` seconds since the failure (if it has not had
    them already) and looks again. When ``deadline_at`` comes first: ``too_late()``.
    """
    found = await look(policy.settle == 0)
    if found.outcome is not Outcome.NOT_YET:
        return found
    ready = failed_at + policy.settle
    if ready >= deadline_at:
        return too_late()
    wait = ready - policy.clock()
    if wait > 0:
        await _wait(policy, wait)
    return await look(True)


async def settle_earlier_by_looking(
    look: Callable[[float, bool], Awaitable[V]], policy: RetryPolicy, started: float
) -> V:
    """Settle a call an earlier process began at ``started`` (wall clock) and never saw end,
    with ``look(deadline_at, settled)``, whatever it reads.

    That call's requests were over by ``started + deadline`` at the latest, so the service has
    had ``settle`` seconds once ``started + deadline + settle`` has passed; until then what is
    missing is looked for again then (the wait runs on ``policy.sleep``).
    """
    ready = started + policy.deadline + policy.settle
    found = await look(policy.clock() + policy.deadline, time.time() >= ready)
    if found.outcome is not Outcome.NOT_YET:
        return found
    await _wait(policy, max(0.0, ready - time.time()))
    return await look(policy.clock() + policy.deadline, True)


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

    def read_back(settled: bool) -> Awaitable[Verdict]:
        return look(
            read,
            target,
            policy=policy,
            deadline_at=deadline_at,
            settled=settled,
            overlapped=overlapped,
        )

    def too_late() -> Verdict:
        return undecidable(
            "the session does not hold it yet, and the call's deadline ends before the service "
            f"has had settle={policy.settle:g}s to store it"
        )

    return await settle_by_looking(
        read_back, policy, failed_at=failed_at, deadline_at=deadline_at, too_late=too_late
    )


async def settle_earlier(read: ReadPage, target: Target, *, policy: RetryPolicy) -> Verdict:
    """Settle a send an earlier process began at ``target.started`` and never saw end.

    That call's requests were over by ``started + deadline`` at the latest, so the service has
    had ``settle`` seconds once ``started + deadline + settle`` has passed; until then a missing
    message is looked for again then (the wait runs on ``policy.sleep``).
    """

    def read_back(deadline_at: float, settled: bool) -> Awaitable[Verdict]:
        return look(read, target, policy=policy, deadline_at=deadline_at, settled=settled)

    return await settle_earlier_by_looking(read_back, policy, target.started)


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


# -- a send with reconciliation --------------------------------------------------------------


def _restate(error: E, message: str, attempts: int) -> E:
    """``error`` saying ``message`` instead, after ``attempts`` attempts in all."""
    error.message = message
    error.args = (message,)
    error.attempts = attempts
    return error


@attrs.frozen
class Wording:
    """How a reconciled call's errors tell what reading back found, in the words of what it
    reads and makes.

    Attributes:
        place: What is read back (``"the session"``).
        advice: What to do before doing it again, when the read-back did not settle it.
        missing: What a read-back that found nothing showed (``"the message was not
            delivered"``).
        again: What no attempt or time was left for (``"send it again"``).
    """

    place: str
    advice: str
    missing: str
    again: str

    def undecided(
        self, failure: DeliveryUnknownError, reason: str, attempts: int
    ) -> DeliveryUnknownError:
        """``failure``, saying why the read-back did not settle it."""
        # What happened, without the advice to check or resend: the client has checked.
        what = failure.message.split("; ", 1)[0]
        message = f"{what}; reading {self.place} back did not settle it: {reason}. {self.advice}"
        return _restate(failure, message, attempts)

    def not_done(self, failure: DeliveryUnknownError, attempts: int) -> YourGPTError:
        """The last attempt's own error, saying that the read-back showed it did not happen."""
        cause = failure.__cause__
        error = cause if isinstance(cause, YourGPTError) else failure
        message = (
            f"{error.message}; reading {self.place} back showed {self.missing}, and no attempt "
            f"or time was left to {self.again}"
        )
        return _restate(error, message, attempts)


SESSION_WORDING: Final = Wording(
    place="the session",
    advice="Look for the message among the session's messages before sending it again",
    missing="the message was not delivered",
    again="send it again",
)
"""A sendMessage's: it reads the session back."""


async def resend_rounds(
    send: Callable[[RetryPolicy], Awaitable[T]],
    settle: Callable[[float, float], Awaitable[V]],
    delivered: Callable[[V], R],
    policy: RetryPolicy,
    wording: Wording,
) -> T | R:
    """Send with ``send`` (one call with retries); settle a :class:`DeliveryUnknownError` with
    ``settle(failed_at, deadline_at)``.

    Delivered: ``delivered(verdict)`` is returned. Not delivered: sent again through ``send``,
    with the attempts and the deadline left (none left: the last attempt's error, saying so).
    Undecidable: the ``DeliveryUnknownError``, its message saying why. Attempts and the
    deadline count the whole call, read-backs and the settle wait included; ``wording`` tells
    the errors.
    """
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
        verdict = await settle(policy.clock(), deadline_at)
        name = failure.endpoint
        logger.info("%s: read back: %s (%s)", name, verdict.outcome.value, verdict.reason)
        if verdict.outcome is Outcome.DELIVERED:
            _note_settled()
            return delivered(verdict)
        if verdict.outcome is Outcome.UNDECIDABLE:
            raise wording.undecided(failure, verdict.reason, used)
        left = deadline_at - policy.clock()
        if used >= policy.attempts or left <= 0:
            raise wording.not_done(failure, used)
        budget = attrs.evolve(policy, attempts=policy.attempts - used, deadline=left)


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

    def settle_send(failed_at: float, deadline_at: float) -> Awaitable[Verdict]:
        return settle(
            read,
            target,
            policy=policy,
            failed_at=failed_at,
            deadline_at=deadline_at,
            overlapped=lambda: ticket.overlapped,
        )

    def found(verdict: Verdict) -> Message:
        return as_message(verdict, target.session_uid)

    try:
        return await resend_rounds(send, settle_send, found, policy, SESSION_WORDING)
    finally:
        sending.leave(ticket)


class MessageReconciler:
    """Settles a sendMessage left in doubt by reading its session's newest messages back.

    One per client (its views share it), so that two sends of the same text into the same
    session at once are known to overlap (see :class:`~._settle.Sending`).
    """

    def __init__(self, lister: Endpoint[Listing[SessionMessage]]) -> None:
        self._lister = lister
        self._sending = Sending()

    @classmethod
    def factory(cls, lister: Endpoint[Listing[SessionMessage]]) -> Callable[[], MessageReconciler]:
        """What a declaration holds: makes a reconciler reading back through ``lister``."""
        return functools.partial(cls, lister)

    async def __call__(
        self,
        send: Callable[[RetryPolicy], Awaitable[Message | None]],
        reader: ReadBack,
        payload: Mapping[str, Any],
        policy: RetryPolicy,
    ) -> Message | None:
        """sendMessage with ``payload`` through ``send``, settling an ambiguous failure."""
        if reader.family not in self._lister.families:
            return await send(policy)  # this credential cannot read a session's messages
        target = self._target(payload, policy, time.time())
        return await send_reconciled(
            send, self._reader(reader, payload), target, policy, self._sending
        )

    async def earlier(
        self, reader: ReadBack, payload: Mapping[str, Any], policy: RetryPolicy, started: float
    ) -> Found[Message]:
        """Whether a send an earlier process began at ``started`` (wall clock) and never saw
        end was delivered: the message found (or the AI's reply to it), not there, or
        undecidable (see :func:`settle_earlier`)."""
        if reader.family not in self._lister.families:
            return Found(Outcome.UNDECIDABLE, "this credential cannot read a session's messages")
        target = self._target(payload, policy, started)
        verdict = await settle_earlier(self._reader(reader, payload), target, policy=policy)
        if verdict.outcome is Outcome.DELIVERED:
            return Found(verdict.outcome, verdict.reason, as_message(verdict, target.session_uid))
        return Found(verdict.outcome, verdict.reason)

    def _reader(self, reader: ReadBack, payload: Mapping[str, Any]) -> ReadPage:
        """Reads the newest messages of the payload's session, a page at a time."""
        query = {"session_uid": payload["session_uid"], "orderBy": "DESC"}

        async def read(page: int, budget: RetryPolicy) -> Page[SessionMessage]:
            return await reader.page(
                self._lister, query, page=page, limit=READ_BACK_LIMIT, retry=budget
            )

        return read

    @staticmethod
    def _target(payload: Mapping[str, Any], policy: RetryPolicy, started: float) -> Target:
        return Target.of(
            payload["session_uid"],
            payload["message"],
            payload.get("send_by", "user"),
            started=started,
            clock_skew=policy.clock_skew,
        )

"""The items and outcomes of a bulk run: :class:`BulkItem`, :class:`BulkOutcome` (a
:class:`Sent`, :class:`Failed` or :class:`InDoubt`) and the counts, :class:`BulkSummary`."""

from __future__ import annotations

from typing import ClassVar, Literal, TypeAlias

import attrs

from .._exceptions import DeliveryUnknownError, YourGPTError
from .._models import Message, SendBy

__all__ = [
    "BulkItem",
    "BulkOutcome",
    "BulkSummary",
    "Failed",
    "InDoubt",
    "OutcomeStatus",
    "Sent",
]


@attrs.frozen
class BulkItem:
    """One message to send with :meth:`AsyncClient.send_many`.

    Nothing is checked when an item is made; ``send_many`` checks each item before sending it
    and reports a bad one as :class:`Failed` without a request.

    Attributes:
        session_uid: The session to send into.
        message: The text.
        send_by: Who the message is from.
        key: A stable, unique id for the item, used by the journal to recognise it when a run
            is resumed (at most 256 characters, not starting with ``#``). ``None`` derives one
            from the item's position in the input and its content.
    """

    session_uid: str
    message: str
    send_by: SendBy | str = SendBy.USER
    key: str | None = None


OutcomeStatus: TypeAlias = Literal["sent", "failed", "in_doubt"]
"""Which of the three outcomes an item had."""


@attrs.frozen(kw_only=True)
class BulkOutcome:
    """What a :class:`BulkRun` yields for each item: a :class:`Sent`, :class:`Failed` or
    :class:`InDoubt`.

    Attributes:
        status: ``"sent"``, ``"failed"`` or ``"in_doubt"``: which of the three it is (a class
            attribute, so it is neither a constructor argument nor compared).
        item: The item.
        key: The item's key (its own, or the one derived from position and content).
        index: The item's position in the input, from 0.
    """

    status: ClassVar[OutcomeStatus]
    item: BulkItem
    key: str
    index: int


# Each outcome declares key and index again after its own field, so that its fields keep their
# order (item, reply or error, key, index) in the constructor, repr() and attrs.asdict().


@attrs.frozen(kw_only=True)
class Sent(BulkOutcome):
    """The item was delivered; ``reply`` is what ``send_message`` returned.

    Attributes:
        item: The item.
        reply: The AI's reply to a user message, else the stored message. For an item
            ``settled`` by a read-back whose AI answer was not stored yet, the item's own
            stored message (``reply.send_by`` says which).
        key: The item's key (its own, or the one derived from position and content).
        index: The item's position in the input, from 0.
        settled: Whether the send failed ambiguously and reading the session back found the
            message delivered (``RetryPolicy(reconcile=True)``).
    """

    status: ClassVar[OutcomeStatus] = "sent"
    reply: Message
    key: str
    index: int
    settled: bool = False


@attrs.frozen(kw_only=True)
class Failed(BulkOutcome):
    """The item was not delivered: it was invalid, or the service refused it.

    Attributes:
        item: The item. For an input that is not an item at all, an empty :class:`BulkItem`
            (``error`` says what the input was).
        error: Why: a :class:`~yourgpt_async.ConfigurationError` for an invalid item (no request
            was made), or the error the last attempt ended with.
        key: The item's key.
        index: The item's position in the input, from 0.
    """

    status: ClassVar[OutcomeStatus] = "failed"
    error: YourGPTError
    key: str
    index: int


@attrs.frozen(kw_only=True)
class InDoubt(BulkOutcome):
    """The message may or may not have been delivered; it was not resent.

    Either the request was sent and no usable answer came back, or a resumed run found that an
    earlier run started the item and never recorded how it ended. Check the session's messages
    (``get_session_messages``) before sending it again.

    Attributes:
        item: The item.
        error: What happened.
        key: The item's key.
        index: The item's position in the input, from 0.
    """

    status: ClassVar[OutcomeStatus] = "in_doubt"
    error: DeliveryUnknownError
    key: str
    index: int


@attrs.frozen(kw_only=True)
class BulkSummary:
    """Counts of a bulk run so far (or in all, once it is over).

    Attributes:
        sent: Items delivered.
        failed: Items not delivered (invalid, or refused by the service).
        in_doubt: Items that may or may not have been delivered.
        skipped: Items a resumed run did not send because the journal shows them delivered.
        cancelled: Items still in flight when the run was closed early; their fate is unknown
            to this run (a journal reports them as in doubt when resumed).
        not_sent: Items taken but never sent because the run stopped first (``stop()``, an
            interrupt, a 401 or 403, or an early close) while they waited for their turn; they
            have no outcome, and a journal records them so that a resumed run sends them.
        settled: Of the items sent, those found delivered by reading the session back after
            an ambiguous failure (``RetryPolicy(reconcile=True)``), not by a reply.
        read_backs: getSessionMessages calls made to settle ambiguous sends: the extra
            requests reconciling cost (a read-back that is retried is still one).
        in_flight: Items being sent right now.
        waiting: Of those, the items whose request is not on the wire but waiting for its turn
            (the rate limit, the client's concurrency gate, or a pause between two attempts):
            a run with many waiting is paced by the service, not by its concurrency.
        at_capacity: Whether the run has ``concurrency`` items outstanding and has more to
            take, so that the next one waits for a place. With few ``waiting``, the
            concurrency is what bounds the run's speed: a higher one may go faster.
        elapsed: Seconds since the run started (until it ended, once it has).
        finished: Whether the run is over.
    """

    sent: int = 0
    failed: int = 0
    in_doubt: int = 0
    skipped: int = 0
    cancelled: int = 0
    not_sent: int = 0
    settled: int = 0
    read_backs: int = 0
    in_flight: int = 0
    waiting: int = 0
    at_capacity: bool = False
    elapsed: float = 0.0
    finished: bool = False

    @property
    def completed(self) -> int:
        """Items with an outcome: sent, failed or in doubt."""
        return self.sent + self.failed + self.in_doubt

    @property
    def rate(self) -> float:
        """The achieved rate: items sent per second of elapsed time."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

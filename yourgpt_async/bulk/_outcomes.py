"""The outcomes of a bulk run: :class:`BulkOutcome` (a :class:`Sent`, :class:`Failed` or
:class:`InDoubt`), generic over the kind of item and of result, and the counts,
:class:`BulkSummary`."""

from __future__ import annotations

from typing import ClassVar, Generic, Literal, TypeAlias, TypeVar

import attrs

from .._exceptions import DeliveryUnknownError, YourGPTError

__all__ = [
    "BulkOutcome",
    "BulkSummary",
    "Failed",
    "InDoubt",
    "OutcomeStatus",
    "Sent",
]

# Outcomes are immutable: one of a BulkItem is an outcome of an object too.
ItemT_co = TypeVar("ItemT_co", covariant=True)
ResultT_co = TypeVar("ResultT_co", covariant=True)


OutcomeStatus: TypeAlias = Literal["sent", "failed", "in_doubt"]
"""Which of the three outcomes an item had."""


@attrs.frozen(kw_only=True)
class BulkOutcome(Generic[ItemT_co]):
    """What a :class:`BulkRun` yields for each item: a :class:`Sent`, :class:`Failed` or
    :class:`InDoubt`.

    Attributes:
        status: ``"sent"``, ``"failed"`` or ``"in_doubt"``: which of the three it is (a class
            attribute, so it is neither a constructor argument nor compared).
        item: The item (a :class:`BulkItem` of ``send_many``, a :class:`FaqItem`,
            :class:`TextItem` or :class:`FileItem` of ``training.add_many``, a
            :class:`ContactTagsItem` of ``contacts.link_tags_many``).
        key: The item's key (its own, or the one derived from position and content).
        index: The item's position in the input, from 0.
    """

    status: ClassVar[OutcomeStatus]
    item: ItemT_co
    key: str
    index: int


# Each outcome declares key and index again after its own field, so that its fields keep their
# order (item, reply or error, key, index) in the constructor, repr() and attrs.asdict().


@attrs.frozen(kw_only=True)
class Sent(BulkOutcome[ItemT_co], Generic[ItemT_co, ResultT_co]):
    """The item's call took effect; ``reply`` is what its method returned.

    Attributes:
        item: The item.
        reply: What the item's method returns. ``send_many``: the AI's reply to a user
            message, else the stored message; for an item ``settled`` by a read-back whose AI
            answer was not stored yet, the item's own stored message (``reply.send_by`` says
            which). ``training.add_many``: the stored :class:`TrainingText` or
            :class:`TrainingFile`. ``contacts.link_tags_many``: ``None``.
        key: The item's key (its own, or the one derived from position and content).
        index: The item's position in the input, from 0.
        settled: Whether the call failed ambiguously and reading the service back found it
            had taken effect (``RetryPolicy(reconcile=True)``).
    """

    status: ClassVar[OutcomeStatus] = "sent"
    reply: ResultT_co
    key: str
    index: int
    settled: bool = False


@attrs.frozen(kw_only=True)
class Failed(BulkOutcome[ItemT_co]):
    """The item's call did not take effect: it was invalid, or the service refused it.

    Attributes:
        item: The item. For an input that is not an item at all, an empty item of the run's
            kind (``error`` says what the input was).
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
class InDoubt(BulkOutcome[ItemT_co]):
    """The item's call may or may not have taken effect; it was not made again.

    Either the request was sent and no usable answer came back, or a resumed run found that an
    earlier run started the item and never recorded how it ended. Look before making it again
    (a message in its session's messages, a text or a file in the project's training), as the
    error says.

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
        sent: Items whose call took effect (a message delivered, a text added, tags linked).
        failed: Items whose call did not (invalid, or refused by the service).
        in_doubt: Items whose call may or may not have taken effect.
        skipped: Items a resumed run did not send because the journal shows them done.
        cancelled: Items still in flight when the run was closed early; their fate is unknown
            to this run (a journal reports them as in doubt when resumed).
        not_sent: Items taken but never sent because the run stopped first (``stop()``, an
            interrupt, a 401, a 403 or a spent quota, or an early close) while they waited for
            their turn; they have no outcome, and a journal records them so that a resumed run
            sends them.
        settled: Of the items sent, those found done by reading the service back after an
            ambiguous failure (``RetryPolicy(reconcile=True)``), not by a reply.
        read_backs: List requests made to settle ambiguous calls (a session's messages for a
            send, the project's texts or files for a create): the extra requests reconciling
            cost (a read-back that is retried is still one).
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

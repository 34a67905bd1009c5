"""Settling a create left in doubt by listing what it creates and finding it (or not).

The Platform API has no idempotency keys either. When a create fails after its request left
(a text, a tag, an invitation, a file, a project), the service's own lists say whether it
landed: :class:`FindBy` is the reconciler a declaration names for that, given the list to read
and how to recognise the item. After a :class:`~yourgpt_async.DeliveryUnknownError` it lists
the candidates and decides, with :func:`decide`:

- **delivered**: exactly one item like it, stamped since the call began: it is returned;
- **not delivered**: none like it over the last ``clock_skew`` seconds before the call began,
  and the service has had ``settle`` seconds since the failure: it is sent again;
- **undecidable**: anything else (two like it, one stamped just before the call, one with no
  date, the read-back failed, no time left): the ``DeliveryUnknownError``, saying why.

The timestamps compared are the service's (``created_at``) and this machine's wall clock, as
for messages (see ``_settle``); ``clock_skew`` keeps a skewed clock from hiding the item.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Generic, TypeVar

from ._config import RetryPolicy
from ._endpoints import Endpoint, ReadBack
from ._exceptions import YourGPTError
from ._readback import (
    Wording,
    _budget,
    _note_read_back,
    resend_rounds,
    settle_by_looking,
    settle_earlier_by_looking,
)
from ._replies import Listing
from ._settle import SAME_MOMENT, Found, Outcome
from .types import Page

__all__ = ["FindBy", "Found", "decide"]

T = TypeVar("T")

_PAGE_SIZE = 100
_PAGES = 2  # past 200 recent items the create cannot be settled

_WORDING: Final = Wording(
    place="the service",
    advice="Look for it before making it again",
    missing="it was not made",
    again="try again",
)


def _stamp(item: object) -> datetime | None:
    stamp = getattr(item, "created_at", None)
    return stamp if isinstance(stamp, datetime) else None


def _id(item: object) -> object:
    return getattr(item, "id", None)


def decide(
    alike: Sequence[T], *, started: float, clock_skew: float, settled: bool, complete: bool
) -> Found[T]:
    """Whether a create that began at ``started`` (wall clock) landed, from the items like it.

    Args:
        alike: The items that look like what the create makes, newest first or not.
        started: When the call began, in seconds since the epoch.
        clock_skew: How far the service's clock may be from this machine's.
        settled: Whether the service has had ``settle`` seconds since the failure.
        complete: Whether the listing reached back past ``started - clock_skew``.
    """
    began = datetime.fromtimestamp(started, timezone.utc)
    if any(_stamp(item) is None for item in alike):
        return Found(Outcome.UNDECIDABLE, "the service does not date them, so a new one is unknown")
    stamps = [(_stamp(item) or began, item) for item in alike]
    recent = [item for stamp, item in stamps if stamp >= began - timedelta(seconds=SAME_MOMENT)]
    if len(recent) > 1:
        return Found(Outcome.UNDECIDABLE, f"{len(recent)} like it were made since the call began")
    if recent:
        return Found(Outcome.DELIVERED, "found", recent[0])
    problem = None
    if any(stamp >= began - timedelta(seconds=clock_skew) for stamp, _ in stamps):
        problem = "one like it is stamped just before the call began, as a skewed clock could "
        problem += "stamp this one"
    elif not complete:
        problem = f"more than {_PAGES * _PAGE_SIZE} recent items to read"
    if problem is not None:
        return Found(Outcome.UNDECIDABLE, problem)
    return Found(Outcome.NOT_DELIVERED, "not there") if settled else Found(Outcome.NOT_YET)


class FindBy(Generic[T]):
    """Settles a create by reading a list back and looking for the item it makes.

    Args:
        lister: The list endpoint to read (newest first where it can be asked).
        query: The list's query, made from the create's payload (its ``project_uid``, a
            ``search`` for the name...).
        same: Whether a listed item is what the payload would make.
        items: The candidates of a page (default: its items; the invitations of a members
            page, say).
    """

    def __init__(
        self,
        lister: Endpoint[Listing[Any]],
        *,
        query: Callable[[Mapping[str, Any]], dict[str, Any]],
        same: Callable[[Any, Mapping[str, Any]], bool],
        items: Callable[[Page[Any]], Sequence[Any]] = lambda page: page.items,
    ) -> None:
        self._lister = lister
        self._query = query
        self._same = same
        self._items = items

    @classmethod
    def factory(
        cls,
        lister: Endpoint[Listing[Any]],
        *,
        query: Callable[[Mapping[str, Any]], dict[str, Any]],
        same: Callable[[Any, Mapping[str, Any]], bool],
        items: Callable[[Page[Any]], Sequence[Any]] = lambda page: page.items,
    ) -> Callable[[], FindBy[T]]:
        """What a declaration holds (``reconcile=FindBy.factory(...)``)."""
        return functools.partial(cls, lister, query=query, same=same, items=items)

    async def __call__(
        self,
        send: Callable[[RetryPolicy], Awaitable[T]],
        reader: ReadBack,
        payload: Mapping[str, Any],
        policy: RetryPolicy,
    ) -> T:
        """Send; after an ambiguous failure, look, and send again only if it did not land."""
        started = time.time()

        def settle(failed_at: float, deadline_at: float) -> Awaitable[Found[T]]:
            return self._settle(
                reader, payload, policy, started, failed_at=failed_at, deadline_at=deadline_at
            )

        return await resend_rounds(send, settle, _made, policy, _WORDING)

    async def earlier(
        self, reader: ReadBack, payload: Mapping[str, Any], policy: RetryPolicy, started: float
    ) -> Found[T]:
        """Whether a create an earlier process began at ``started`` (wall clock) and never saw
        end landed: the item it made, or not there, or undecidable (``NOT_YET`` never).

        That call's requests were over by ``started + deadline``, so the service has had
        ``settle`` seconds once ``started + deadline + settle`` has passed; until then a missing
        item is looked for again then (the wait runs on ``policy.sleep``).
        """

        def look(deadline_at: float, settled: bool) -> Awaitable[Found[T]]:
            return self._look(reader, payload, policy, started, deadline_at, settled=settled)

        return await settle_earlier_by_looking(look, policy, started)

    async def _settle(
        self,
        reader: ReadBack,
        payload: Mapping[str, Any],
        policy: RetryPolicy,
        started: float,
        *,
        failed_at: float,
        deadline_at: float,
    ) -> Found[T]:
        def look(settled: bool) -> Awaitable[Found[T]]:
            return self._look(reader, payload, policy, started, deadline_at, settled=settled)

        def too_late() -> Found[T]:
            return Found(
                Outcome.UNDECIDABLE,
                "it is not there yet, and the deadline ends before the service has had "
                f"settle={policy.settle:g}s to store it",
            )

        return await settle_by_looking(
            look, policy, failed_at=failed_at, deadline_at=deadline_at, too_late=too_late
        )

    async def _look(
        self,
        reader: ReadBack,
        payload: Mapping[str, Any],
        policy: RetryPolicy,
        started: float,
        deadline_at: float,
        *,
        settled: bool,
    ) -> Found[T]:
        query = self._query(payload)
        alike: list[Any] = []
        seen: set[object] = set()
        since = datetime.fromtimestamp(started - policy.clock_skew, timezone.utc)
        for number in range(1, _PAGES + 1):
            budget = _budget(policy, deadline_at)
            if budget is None:
                return Found(Outcome.UNDECIDABLE, "the deadline left no time to read back")
            _note_read_back()
            try:
                page = await reader.page(
                    self._lister, query, page=number, limit=_PAGE_SIZE, retry=budget
                )
            except YourGPTError as error:
                return Found(Outcome.UNDECIDABLE, f"the read-back failed: {error}")
            items = self._items(page)
            # An item made meanwhile shifts the pages: skip what was already read.
            fresh = [item for item in items if _id(item) is None or _id(item) not in seen]
            seen.update(_id(item) for item in fresh if _id(item) is not None)
            alike += [item for item in fresh if self._same(item, payload)]
            oldest = min((s for s in map(_stamp, items) if s is not None), default=None)
            if not page.has_more or not items or (oldest is not None and oldest < since):
                return decide(
                    alike,
                    started=started,
                    clock_skew=policy.clock_skew,
                    settled=settled,
                    complete=True,
                )
        return decide(
            alike, started=started, clock_skew=policy.clock_skew, settled=settled, complete=False
        )


def _made(found: Found[T]) -> T:
    """The item a read-back found made (``DELIVERED`` always carries it)."""
    return found.item  # type: ignore[return-value]

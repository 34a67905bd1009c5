"""When a walk over pages must stop, whatever the service sends: :class:`PageWalk`.

A page-numbered listing can misbehave: a service that ignores ``page`` sends the same page
forever, one that alternates between pages never reaches the end, and ``total`` may be huge or
wrong. A walk stops at the first empty page, at the last page by ``total`` or by a short page,
as soon as a page repeats one seen before (its items are not yielded again), and once it has
yielded more items than ``total`` said there are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

__all__ = ["PageLike", "PageWalk"]


class PageLike(Protocol):
    """What the walk reads of a page."""

    @property
    def items(self) -> Sequence[object]: ...

    @property
    def total(self) -> int | None: ...

    @property
    def has_more(self) -> bool: ...


def _fingerprint(items: Sequence[object]) -> bytes:
    """A short digest of a page's items: equal items give equal digests."""
    return hashlib.blake2b(repr(items).encode("utf-8", "surrogatepass"), digest_size=16).digest()


class PageWalk:
    """The pages a walk has seen, and the two questions asked of each new page.

    Memory grows by 16 bytes a page, never with the items.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self.items = 0
        """How many items the walk has yielded."""

    def is_new(self, page: PageLike) -> bool:
        """Whether ``page`` should be yielded: not empty, and not a repeat of an earlier page."""
        if not page.items:
            return False
        fingerprint = _fingerprint(page.items)
        if fingerprint in self._seen:
            return False
        self._seen.add(fingerprint)
        self.items += len(page.items)
        return True

    def is_last(self, page: PageLike) -> bool:
        """Whether the walk ends after ``page`` (which was new and yielded)."""
        if not page.has_more:
            return True
        return page.total is not None and self.items >= page.total

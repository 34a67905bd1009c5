"""The input of a bulk run, pulled lazily: :class:`Source` takes from an iterable or an async
iterable alike, with a small look-ahead buffer (the journal's fingerprint reads ahead)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

__all__ = ["Source"]


class Source:
    """Pulls raw inputs from an iterable or async iterable, with a small look-ahead buffer."""

    def __init__(self, items: Iterable[object] | AsyncIterable[object]) -> None:
        self._sync: Iterator[object] | None = None
        self._async: AsyncIterator[object] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        else:
            self._sync = iter(items)
        self.buffer: deque[object] = deque()
        self._ended = False

    @property
    def is_async(self) -> bool:
        return self._async is not None

    @property
    def exhausted(self) -> bool:
        """Whether every input has been taken."""
        return self._ended and not self.buffer

    def next_now(self) -> tuple[bool, object]:
        """The next input if at hand without waiting: ``(True, item)``, else ``(False, None)``.

        ``(False, None)`` with ``exhausted`` set means the input has ended.
        """
        if self.buffer:
            return True, self.buffer.popleft()
        if self._sync is not None and not self._ended:
            try:
                return True, next(self._sync)
            except StopIteration:
                self._ended = True
        return False, None

    async def next(self) -> tuple[bool, object]:
        """The next input, waiting for it: ``(True, item)``, or ``(False, None)`` at the end."""
        found, raw = self.next_now()
        if found or self._async is None or self._ended:
            return found, raw
        try:
            return True, await anext(self._async)
        except StopAsyncIteration:
            self._ended = True
            return False, None

    async def look_ahead(self, count: int) -> bool:
        """Pull up to ``count`` inputs into the buffer; return whether the input ended there."""
        taken: list[object] = []
        while len(taken) < count:
            found, raw = await self.next()
            if not found:
                break
            taken.append(raw)
        self.buffer.extend(taken)
        return self._ended

"""A compact set of item keys: :class:`KeyTable`, 64-bit hashes with a few flag bits each, in
8 bytes a slot. The journal's replay keeps what an earlier run did to each key in one; a run
keeps the keys it has taken in another, to find a key used twice."""

from __future__ import annotations

import hashlib
from array import array
from typing import Final

__all__ = ["FLAG_BITS", "KeyTable"]

FLAG_BITS: Final = 15
"""The low bits of a slot that hold its flags rather than its hash."""


def _key_hash(key: str) -> int:
    """The 64-bit hash kept instead of the key itself (8 bytes an item)."""
    data = key.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class KeyTable:
    """A set of 64-bit key hashes, each with flag bits, in 8 bytes a slot.

    Open addressing with linear probing over one ``array``: a million keys take 16 MB, with no
    per-key Python object, so resuming a huge run stays within a small, fixed memory budget. A
    hash collision (odds about n²/2⁶¹) could only make an unsent item look sent or in doubt,
    never send one twice.
    """

    def __init__(self, expected: int = 0) -> None:
        capacity = 1024
        while capacity * 2 < expected * 3:  # at most two thirds full
            capacity *= 2
        self._slots = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._count = 0

    @staticmethod
    def code(key: str) -> int:
        """The key's hash with the flag bits cleared (never 0, which marks an empty slot)."""
        return (_key_hash(key) & ~FLAG_BITS) or (FLAG_BITS + 1)

    def _slot(self, code: int) -> int:
        slots, mask = self._slots, self._mask
        index = (code >> 4) & mask
        while True:
            value = slots[index]
            if value == 0 or value & ~FLAG_BITS == code:
                return index
            index = (index + 1) & mask

    def flags(self, code: int) -> int | None:
        """The flags recorded for ``code``, or ``None`` if it was never added."""
        value = self._slots[self._slot(code)]
        return None if value == 0 else value & FLAG_BITS

    def update(self, code: int, *, set_flags: int = 0, clear_flags: int = 0) -> None:
        """Record ``code`` (if new) and change its flags."""
        index = self._slot(code)
        value = self._slots[index]
        if value == 0:
            if (self._count + 1) * 3 > len(self._slots) * 2:
                self._grow()
                index = self._slot(code)
            self._count += 1
            value = code
        self._slots[index] = (value | set_flags) & ~clear_flags

    def add(self, key: str) -> bool:
        """Record ``key``; return whether it was there already."""
        code = self.code(key)
        if self.flags(code) is not None:
            return True
        self.update(code)
        return False

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        self._mask = len(self._slots) - 1
        for value in old:
            if value:
                self._slots[self._slot(value & ~FLAG_BITS)] = value

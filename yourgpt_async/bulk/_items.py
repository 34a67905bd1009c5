"""Keys, and the checks every kind of item shares: the key made for an item without one, the
error of a key used twice, and the refusal of an input that is not a valid item.

An item's own key identifies it across runs; without one, its key is made from its position in
the input and a hash of its content (``#<position>:<content hash>``), so that the journal can
tell a changed input from the one it recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from .._exceptions import ConfigurationError
from .._validate import MAX_KEY_LENGTH, good_key, short
from ._kind import Prepared

__all__ = [
    "BAD_KEY",
    "GENERATED_KEY",
    "check_unique_keys",
    "duplicate_key",
    "generated_key",
    "own_key",
    "refused",
]

ItemT = TypeVar("ItemT")

GENERATED_KEY: Final = re.compile(r"#([0-9]{1,18}):([0-9a-f]{16})\Z")
"""The key made for an item without one: ``#<position>:<content hash>``."""

BAD_KEY: Final = (
    f"key must be a non-empty str of at most {MAX_KEY_LENGTH} characters, not starting with '#'"
)


def generated_key(index: int, content: str) -> str:
    """The key of the item at ``index`` whose content reads ``content``."""
    data = content.encode("utf-8", "surrogatepass")
    return f"#{index}:{hashlib.blake2b(data, digest_size=8).hexdigest()}"


def own_key(key: object) -> str | None:
    """``key`` if it is a valid key of an item's own, else ``None``."""
    return key if isinstance(key, str) and good_key(key) else None


def refused(index: int, item: ItemT, key: str, problem: str) -> Prepared[ItemT]:
    """An input that cannot be sent: its error names its position and the problem (one that
    starts "must be" is said of the item itself: "item 3 must be a ...")."""
    error = ConfigurationError(
        f"item {index} {problem}" if problem.startswith("must ") else f"item {index}: {problem}"
    )
    return Prepared(index, item, key, error=error, problem=problem)


def duplicate_key(index: int, key: str) -> ConfigurationError:
    """The error of an item whose key an earlier item of the same input has."""
    return ConfigurationError(
        f"item {index}: its key {short(key)} is an earlier item's too; each item's key must be "
        "unique in one input (resuming a run tells items apart by it), so it was not sent"
    )


def check_unique_keys(items: Sequence[object], key_of: Callable[[object], str | None]) -> None:
    """Raise if two items of ``items`` name the same key, naming both positions."""
    first: dict[str, int] = {}
    for index, raw in enumerate(items):
        key = key_of(raw)
        if key is None:
            continue
        earlier = first.setdefault(key, index)
        if earlier != index:
            raise ConfigurationError(
                f"items {earlier} and {index} have the same key {short(key)}; each item's key "
                "must be unique in one input (resuming a run tells items apart by it). Give "
                "one of them another key"
            )

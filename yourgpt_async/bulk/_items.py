"""What a bulk run takes as input: :data:`BulkInput`, and :func:`prepare`, which turns one input
into a checked, normalised item with its key.

Both ``send_many`` and the command line's ``bulk`` reader judge an item here, with the checks of
``_validate``, so an item is accepted or refused alike wherever it comes from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Final, TypeAlias

import attrs

from .._exceptions import ConfigurationError
from .._models import SendBy
from .._validate import MAX_KEY_LENGTH, choice, good_key, message_text, short, uid
from ._outcomes import BulkItem

__all__ = [
    "GENERATED_KEY",
    "BulkInput",
    "Prepared",
    "check_unique_keys",
    "duplicate_key",
    "prepare",
]

BulkInput: TypeAlias = BulkItem | tuple[object, ...]
"""What ``send_many`` takes per item: a :class:`BulkItem` or a tuple
``(session_uid, message[, send_by[, key]])``."""

GENERATED_KEY: Final = re.compile(r"#([0-9]{1,18}):([0-9a-f]{16})\Z")
"""The key made for an item without one: ``#<position>:<content hash>``."""


@attrs.frozen
class Prepared:
    """An item as the engine handles it: normalised, keyed, and checked.

    Attributes:
        index: The item's position in the input, from 0.
        item: The item, normalised when its fields are valid.
        key: Its own key if valid, else one made from its position and content.
        error: Why it cannot be sent (naming its position), or ``None``.
        problem: The same reason without the position, or ``None``.
    """

    index: int
    item: BulkItem
    key: str
    error: ConfigurationError | None = None
    problem: str | None = None


def prepare(raw: object, index: int) -> Prepared:
    """Normalise one input into an item with its key; record, not raise, what is wrong."""
    if isinstance(raw, BulkItem):
        item = raw
    elif isinstance(raw, tuple) and 2 <= len(raw) <= 4:
        item = BulkItem(*raw)
    else:
        problem = (
            "must be a BulkItem or a (session_uid, message[, send_by[, key]]) tuple, got "
            f"{type(raw).__name__}: {short(raw)}"
        )
        error = ConfigurationError(f"item {index} {problem}")
        key = _generated(index, type(raw).__qualname__)
        return Prepared(index, BulkItem(session_uid="", message=""), key, error, problem)
    own_key = item.key if item.key is not None and good_key(item.key) else None
    try:
        session_uid = uid("session_uid", item.session_uid)
        text = message_text(item.message)
        sender = choice("send_by", item.send_by, SendBy)
    except ConfigurationError as error:
        content = repr((item.session_uid, item.message, item.send_by))
        return _refused(index, item, own_key or _generated(index, content), error.message)
    item = BulkItem(session_uid, text, sender, item.key)
    key = own_key or _generated(index, "\x1f".join((session_uid, sender.value, text)))
    if item.key is not None and own_key is None:
        return _refused(
            index,
            item,
            key,
            f"key must be a non-empty str of at most {MAX_KEY_LENGTH} characters, not starting "
            f"with '#'; got {short(item.key)}",
        )
    return Prepared(index, item, key)


def _refused(index: int, item: BulkItem, key: str, problem: str) -> Prepared:
    return Prepared(index, item, key, ConfigurationError(f"item {index}: {problem}"), problem)


def _generated(index: int, content: str) -> str:
    return f"#{index}:{_digest(content)}"


def _digest(text: str) -> str:
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _own_key(raw: object) -> str | None:
    """The valid key an input names itself, if any."""
    key: object = raw.key if isinstance(raw, BulkItem) else None
    if isinstance(raw, tuple) and len(raw) == 4:
        key = raw[3]
    return key if isinstance(key, str) and good_key(key) else None


def duplicate_key(index: int, key: str) -> ConfigurationError:
    """The error of an item whose key an earlier item of the same input has."""
    return ConfigurationError(
        f"item {index}: its key {short(key)} is an earlier item's too; each item's key must be "
        "unique in one input (resuming a run tells items apart by it), so it was not sent"
    )


def check_unique_keys(items: Sequence[object]) -> None:
    """Raise if two items of ``items`` name the same key, naming both positions."""
    first: dict[str, int] = {}
    for index, raw in enumerate(items):
        key = _own_key(raw)
        if key is None:
            continue
        earlier = first.setdefault(key, index)
        if earlier != index:
            raise ConfigurationError(
                f"items {earlier} and {index} have the same key {short(key)}; each item's key "
                "must be unique in one input (resuming a run tells items apart by it). Give "
                "one of them another key"
            )

"""How the ``data`` of a success envelope becomes an endpoint's result, whatever its shape.

An endpoint declares one :class:`Reply`: :func:`one` model, :func:`optional` (an object or
nothing), :func:`nothing`, :func:`many` models (a plain list), or :func:`listing` (a list and
its total, for a :class:`~yourgpt_async.Page`). Each shape decodes through the package's
converter; none knows an endpoint. A shape that is not there raises :class:`ShapeError`, which
``_wire.decode_reply`` turns into an ``UnexpectedResponseError``.

The pages contradict each other on lists (``total`` beside ``data``, ``{count, rows}`` inside
it, an object with a named list), so a listing reads its declared places first and then the
others: a list decodes whichever of these shapes the service sends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypeVar

import attrs

from ._converter import converter
from .types import Page

__all__ = [
    "Listing",
    "Reply",
    "ShapeError",
    "listing",
    "many",
    "nothing",
    "one",
    "optional",
]

T = TypeVar("T")
M = TypeVar("M")

Envelope = Mapping[str, Any]


class ShapeError(Exception):
    """The envelope is a success but ``data`` does not have the endpoint's shape."""


@attrs.frozen(slots=True)
class Reply(Generic[T]):
    """One endpoint's way of turning a success envelope into its result.

    Attributes:
        decode: The envelope in, the result out; raises :class:`ShapeError` (or anything, for
            data that cannot be decoded) when it does not fit.
        model: The model of the result (of each item, for a list), for documentation and
            tests; ``None`` for :func:`nothing`.
        page_type: For a listing, the :class:`~yourgpt_async.Page` (sub)class its pages are,
            with the listing's extras as its further attributes; ``None`` for the rest.
    """

    decode: Callable[[Envelope], T] = attrs.field(repr=False)
    model: type[Any] | None
    page_type: type[Page[Any]] | None = None

    @property
    def is_listing(self) -> bool:
        """Whether the result is a :class:`Listing` (the endpoint pages)."""
        return self.page_type is not None


@attrs.frozen(slots=True)
class Listing(Generic[M]):
    """What one page of a list reply holds, before it becomes a :class:`~yourgpt_async.Page`.

    Attributes:
        items: The page's items.
        total: How many items there are in all, when the reply says.
        extras: Other values the page carries (the pending invitations beside the members).
    """

    items: tuple[M, ...]
    total: int | None = None
    extras: Mapping[str, Any] = attrs.field(factory=dict)


def _structure_hook(model: type[M]) -> Callable[[Any, Any], M]:
    """The converter's hook for ``model``, called as ``hook(value, model)``."""
    return converter.get_structure_hook(model)


def _data_object(envelope: Envelope) -> Mapping[str, Any]:
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise ShapeError(f"expected an object in 'data', got {type(data).__name__}")
    return data


def one(model: type[M]) -> Reply[M]:
    """``data`` is one object: the ``model`` made of it."""
    structure = _structure_hook(model)

    def decode(envelope: Envelope) -> M:
        return structure(_data_object(envelope), model)

    return Reply(decode, model)


def optional(model: type[M]) -> Reply[M | None]:
    """``data`` is one object, or absent, null or empty (``None``)."""
    structure = _structure_hook(model)

    def decode(envelope: Envelope) -> M | None:
        data = envelope.get("data")
        if data is None or data in ({}, []):
            return None
        if not isinstance(data, dict):
            raise ShapeError(f"expected an object or nothing in 'data', got {type(data).__name__}")
        return structure(data, model)

    return Reply(decode, model)


def _nothing(envelope: Envelope) -> None:
    return None


def nothing() -> Reply[None]:
    """The reply's message is all there is: whatever ``data`` holds is ignored."""
    return Reply(_nothing, None)


def _objects(data: object) -> list[Any]:
    if not isinstance(data, list):
        raise ShapeError(f"expected a list, got {type(data).__name__}")
    return [item for item in data if isinstance(item, dict)]


def many(model: type[M]) -> Reply[tuple[M, ...]]:
    """``data`` is a list of objects (absent or null: none); other entries are skipped."""
    structure = _structure_hook(model)

    def decode(envelope: Envelope) -> tuple[M, ...]:
        data = envelope.get("data")
        if data is None:
            return ()
        return tuple([structure(item, model) for item in _objects(data)])

    return Reply(decode, model)


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


_ROW_KEYS: Final = ("rows",)  # where a list nested in an object is, when not declared
_COUNT_KEYS: Final = ("count", "total")


def listing(
    model: type[M],
    *,
    items: str | None = None,
    extras: Mapping[str, type[Any]] | None = None,
    page: type[Page[Any]] = Page,
) -> Reply[Listing[M]]:
    """A page of a list: ``data`` is the list, with ``total`` beside it; or ``data`` is an
    object holding the list (under ``items``, else ``rows``) and maybe its ``count``.

    Args:
        model: Each item's model.
        items: The key of the list when ``data`` is an object (``"organizationMember"``).
        extras: Other lists in that object to keep, by key, with their items' model
            (``{"invitations": Invitation}``); they go into :attr:`Listing.extras`.
        page: The page class, a :class:`~yourgpt_async.Page` with an attribute for each of
            ``extras``.
    """
    structure = _structure_hook(model)
    keys = (items, *_ROW_KEYS) if items is not None else _ROW_KEYS
    extra_hooks = {key: (_structure_hook(kind), kind) for key, kind in (extras or {}).items()}

    def decode(envelope: Envelope) -> Listing[M]:
        data = envelope.get("data")
        total = _count(envelope.get("total"))
        found: dict[str, Any] = {}
        if isinstance(data, dict):
            for key in _COUNT_KEYS:
                if total is None:
                    total = _count(data.get(key))
            for key, (hook, kind) in extra_hooks.items():
                entries = data.get(key)
                found[key] = tuple(hook(e, kind) for e in _objects(entries)) if entries else ()
            where = next((key for key in keys if key in data), None)
            if where is None:
                raise ShapeError(f"expected a list in 'data', or an object with {keys[0]!r}")
            data = data[where]
        rows = () if data is None else tuple([structure(item, model) for item in _objects(data)])
        for key in extra_hooks:
            found.setdefault(key, ())
        return Listing(rows, total, found)

    return Reply(decode, model, page)

"""What the bulk engine is told about one kind of item: :class:`BulkKind`, a small description
(how an input becomes a checked call of a declared endpoint, with its key; what the call's
result is; what to do about one left in doubt; how a file's records read), :class:`Prepared`,
one input so described, and :class:`Rows`, the file reader's part.

The engine knows nothing else of what it sends: the messages of ``send_many`` (``_messages``),
the training creates and the contact tag links (described beside their endpoints, in
``platform``) are each one ``BulkKind``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import attrs

from .._calls import Caller
from .._endpoints import Endpoint
from .._exceptions import ConfigurationError

__all__ = ["BadRecord", "BulkKind", "Prepared", "Rows", "_Job"]

ItemT = TypeVar("ItemT")
ItemT_co = TypeVar("ItemT_co", covariant=True)
ResultT = TypeVar("ResultT")

_NO_PAYLOAD: Mapping[str, Any] = MappingProxyType({})


@attrs.frozen
class Prepared(Generic[ItemT_co]):
    """An input as the engine handles it: normalised, keyed, checked, and made a call.

    Attributes:
        index: The input's position, from 0.
        item: The item, normalised when its fields are valid (the kind's placeholder for an
            input that is no item at all).
        key: Its own key if valid, else one made from its position and content.
        endpoint: The endpoint the item is a call of (``None`` when ``error`` is set).
        payload: The call's fields, without those the run adds to every call (the widget, the
            project).
        error: Why it cannot be sent (naming its position), or ``None``.
        problem: The same reason without the position, or ``None``.
    """

    index: int
    item: ItemT_co
    key: str
    endpoint: Endpoint[Any] | None = attrs.field(default=None, repr=False)
    payload: Mapping[str, Any] = attrs.field(default=_NO_PAYLOAD, repr=False)
    error: ConfigurationError | None = None
    problem: str | None = None


class BadRecord(ValueError):
    """A file's record that is not an input of its kind (a required field missing, say)."""


@attrs.frozen(kw_only=True)
class Rows:
    """How a file's records (CSV rows, JSON lines) are read as inputs of a kind.

    Attributes:
        fields: Every column (or JSON field) a record may name.
        expected: The columns, in words, for error messages ("question,answer[,tags] ...").
        header_problem: Why a header naming these columns (lower-cased) does not fit, or
            ``None`` if it does.
        positional: The columns of a CSV file without a header, in order; empty when a header
            is required (and the first JSON line is then checked as one too).
        record: Turns a record's fields into an input for the kind's ``prepare``; raises
            :class:`BadRecord` saying why it cannot.
    """

    fields: tuple[str, ...]
    expected: str
    header_problem: Callable[[list[str]], str | None]
    positional: tuple[str, ...] = ()
    record: Callable[[dict[str, object]], object] = lambda fields: fields

    @property
    def header_required(self) -> bool:
        """Whether a file must name its columns (no positional reading)."""
        return not self.positional


@attrs.frozen(kw_only=True, eq=False)
class BulkKind(Generic[ItemT, ResultT]):
    """One kind of item a bulk run can call an endpoint with.

    Attributes:
        what: What an item is, in error messages ("message", "training item").
        accepts: The inputs taken, in words ("FaqItem, TextItem, FileItem or mappings").
        prepare: One input and its position -> a :class:`Prepared` (never raises: a bad input
            is returned with its ``error``).
        own_key: The valid key an input names itself, if any (to refuse one used twice in a
            list before anything is sent).
        result: The outcome's ``reply``, from the item and what the endpoint's call returned.
        result_id: What the journal records of a result (its ``id``), or ``None``.
        done: The past participle of what a call does ("delivered", "added", "linked").
        check: What to do about an item an earlier run left in doubt, as the end of a sentence
            ("Check ... before sending it again, or resume with resend_in_doubt=True ...").
        placeholder: The item of an outcome whose input is no item at all.
        rows: How a file's records read as inputs, if files of this kind are read.
    """

    what: str
    accepts: str
    prepare: Callable[[object, int], Prepared[ItemT]]
    own_key: Callable[[object], str | None]
    result: Callable[[Prepared[ItemT], Any], ResultT]
    result_id: Callable[[ResultT], object]
    done: str
    check: str
    placeholder: ItemT
    rows: Rows | None = None


@attrs.frozen(eq=False)
class _Job(Generic[ItemT, ResultT]):
    """What one run calls: a kind of item, through a client's caller (its view, with the
    run's priority), with the fields every call of the run carries (the widget, the project)."""

    kind: BulkKind[ItemT, ResultT]
    caller: Caller
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    def call(self, prepared: Prepared[ItemT]) -> Awaitable[Any]:
        """Make the item's call: its endpoint with the run's fields and its payload."""
        assert prepared.endpoint is not None
        return self.caller.call(prepared.endpoint, self.payload(prepared), None, None)

    def payload(self, prepared: Prepared[ItemT]) -> dict[str, Any]:
        """The whole payload of the item's call, as :meth:`call` sends it."""
        return {**self.fields, **prepared.payload}

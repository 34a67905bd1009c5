"""The items of the Platform API's bulk jobs: what ``training.add_many`` adds (:class:`FaqItem`,
:class:`TextItem`, :class:`FileItem`) and what ``contacts.link_tags_many`` links
(:class:`ContactTagsItem`), the dict and row forms they are read from, and how a file's
columns name them.

This module only reads an input's shape; the checks of its values, and the calls they make,
are described beside their endpoints (``platform._training`` and ``platform._contacts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, TypeAlias

import attrs

from .._validate import short
from ._kind import BadRecord, Rows

__all__ = [
    "CONTACT_TAGS_ROWS",
    "TRAINING_ROWS",
    "ContactTagsInput",
    "ContactTagsItem",
    "FaqItem",
    "FileItem",
    "TextItem",
    "TrainingInput",
    "contact_tags_item",
    "training_item",
]

Tags: TypeAlias = Sequence[str] | str | None


@attrs.frozen
class FaqItem:
    """A question and its answer to train a project's bot on, with ``training.add_many``.

    Nothing is checked when an item is made; ``add_many`` checks each item before its request
    and reports a bad one as :class:`Failed` without one.

    Attributes:
        question: The question, as a visitor would ask it.
        answer: The answer the bot should give.
        tags: Tags, as a list of names or one comma-separated ``str``.
        key: A stable, unique id for the item, by which a journal recognises it when a run is
            resumed (at most 256 characters, not starting with ``#``); ``None`` derives one
            from its position in the input and its content.
    """

    question: str
    answer: str
    tags: Tags = None
    key: str | None = None


@attrs.frozen
class TextItem:
    """A text to train a project's bot on, with ``training.add_many``.

    Attributes:
        text: The text.
        title: A title for it.
        tags: Tags, as a list of names or one comma-separated ``str``.
        key: The item's own key (see :class:`FaqItem`).
    """

    text: str
    title: str | None = None
    tags: Tags = None
    key: str | None = None


@attrs.frozen
class FileItem:
    """A file the service fetches from a URL to train a project's bot on, with
    ``training.add_many``.

    Attributes:
        url: An absolute ``http(s)`` URL whose path ends with the file's type (``.pdf``...).
        tags: Tags, as a list of names or one comma-separated ``str``.
        key: The item's own key (see :class:`FaqItem`).
    """

    url: str
    tags: Tags = None
    key: str | None = None


@attrs.frozen
class ContactTagsItem:
    """Tags to link to one contact, with ``contacts.link_tags_many``.

    Attributes:
        contact_id: The contact's id.
        tags: The tags' names (they must exist): a list, or one comma-separated ``str``.
        key: The item's own key (see :class:`FaqItem`).
    """

    contact_id: int | str
    tags: Tags
    key: str | None = None


TrainingInput: TypeAlias = FaqItem | TextItem | FileItem | Mapping[str, object]
"""What ``training.add_many`` takes per item: a :class:`FaqItem`, :class:`TextItem` or
:class:`FileItem`, or a mapping (a JSON object, a ``csv.DictReader`` row) with ``question`` and
``answer``, or ``text`` (and ``title``), or ``url``; each with ``tags`` and ``key`` optional."""

ContactTagsInput: TypeAlias = ContactTagsItem | tuple[object, ...] | Mapping[str, object]
"""What ``contacts.link_tags_many`` takes per item: a :class:`ContactTagsItem`, a tuple
``(contact_id, tags[, key])``, or a mapping with ``contact_id``, ``tags`` and optionally
``key``."""

# -- the dict and row forms ------------------------------------------------------------------

_FAQ: Final = ("question", "answer")
_TEXT: Final = ("title", "text")
_FILE: Final = ("url",)
_COMMON: Final = ("tags", "key")
_TRAINING_FIELDS: Final = (*_FAQ, *_TEXT, *_FILE, *_COMMON)
_TRAINING_SHAPES: Final = (
    "question,answer[,tags] (FAQs), [title,]text[,tags] (texts) or url[,tags] (files), each "
    "with an optional key"
)
_CONTACT_FIELDS: Final = ("contact_id", "tags", "key")


def _given(fields: Mapping[str, object], name: str) -> object:
    """A field's value; an empty cell or a null is no value."""
    value = fields.get(name)
    return None if value == "" else value


def _unknown(fields: Mapping[object, object], known: Sequence[str]) -> None:
    if None in fields:  # csv.DictReader's key for the cells past its header's columns
        raise BadRecord("more cells than the header names")
    unknown = sorted(str(name) for name in fields if name not in known)
    if unknown:
        raise BadRecord(f"unknown field(s): {', '.join(unknown)}")


def training_item(raw: object) -> FaqItem | TextItem | FileItem:
    """The training item ``raw`` is, or is written as (a mapping).

    Raises:
        BadRecord: ``raw`` is not an item, or a mapping of one kind's fields.
    """
    if isinstance(raw, (FaqItem, TextItem, FileItem)):
        return raw
    if not isinstance(raw, Mapping):
        raise BadRecord(
            "must be a FaqItem, TextItem or FileItem, or a mapping with "
            f"{_TRAINING_SHAPES}; got {type(raw).__name__}: {short(raw)}"
        )
    _unknown(raw, _TRAINING_FIELDS)
    kinds = [names for names in (_FAQ, _TEXT, _FILE) if any(_given(raw, n) for n in names)]
    if len(kinds) != 1:
        named = ", ".join(name for names in kinds for name in names if _given(raw, name))
        raise BadRecord(
            f"names the fields of {'no' if not kinds else 'more than one'} kind of training "
            f"item{f' ({named})' if named else ''}; expected {_TRAINING_SHAPES}"
        )
    tags, key = _given(raw, "tags"), _given(raw, "key")
    if kinds[0] is _FAQ:
        missing = [name for name in _FAQ if _given(raw, name) is None]
        if missing:
            raise BadRecord(f"missing {missing[0]}")
        return FaqItem(raw["question"], raw["answer"], tags, key)  # type: ignore[arg-type]
    if kinds[0] is _TEXT:
        if _given(raw, "text") is None:
            raise BadRecord("missing text")
        return TextItem(raw["text"], _given(raw, "title"), tags, key)  # type: ignore[arg-type]
    return FileItem(raw["url"], tags, key)  # type: ignore[arg-type]


def contact_tags_item(raw: object) -> ContactTagsItem:
    """The contact tagging ``raw`` is, or is written as (a tuple or a mapping).

    Raises:
        BadRecord: ``raw`` is not one.
    """
    if isinstance(raw, ContactTagsItem):
        return raw
    if isinstance(raw, tuple) and 2 <= len(raw) <= 3:
        return ContactTagsItem(*raw)
    if not isinstance(raw, Mapping):
        raise BadRecord(
            "must be a ContactTagsItem, a (contact_id, tags[, key]) tuple or a mapping with "
            f"contact_id, tags and optionally key; got {type(raw).__name__}: {short(raw)}"
        )
    _unknown(raw, _CONTACT_FIELDS)
    missing = [name for name in ("contact_id", "tags") if _given(raw, name) is None]
    if missing:
        raise BadRecord(f"missing {' and '.join(missing)}")
    return ContactTagsItem(raw["contact_id"], raw["tags"], _given(raw, "key"))  # type: ignore[arg-type]


# -- a file's columns ------------------------------------------------------------------------


def _training_header(names: list[str]) -> str | None:
    problems = _header_problems(names, _TRAINING_FIELDS)
    kinds = [shape for shape in (_FAQ, _TEXT, _FILE) if set(shape) & set(names)]
    if len(kinds) > 1:
        mixed = ", ".join(name for shape in kinds for name in shape if name in names)
        problems.append(f"the columns of more than one kind of item ({mixed})")
    elif not kinds:
        problems.append("no question,answer, text or url column")
    elif kinds[0] is _FAQ or kinds[0] is _TEXT:
        required = _FAQ if kinds[0] is _FAQ else ("text",)
        problems += [f"no {name} column" for name in required if name not in names]
    if not problems:
        return None
    return f"has {'; '.join(problems)}. A file of training items names {_TRAINING_SHAPES}"


def _contact_header(names: list[str]) -> str | None:
    problems = _header_problems(names, _CONTACT_FIELDS)
    problems += [f"no {name} column" for name in ("contact_id", "tags") if name not in names]
    if not problems:
        return None
    return f"has {'; '.join(problems)}. It names contact_id and tags, and optionally key"


def _header_problems(names: list[str], known: Sequence[str]) -> list[str]:
    unknown = [name for name in names if name not in known]
    repeated = sorted({name for name in names if names.count(name) > 1})
    return [
        *([f"unknown column(s) {', '.join(map(repr, unknown))}"] if unknown else []),
        *([f"{', '.join(repeated)} named twice"] if repeated else []),
    ]


TRAINING_ROWS: Final = Rows(
    fields=_TRAINING_FIELDS, expected=_TRAINING_SHAPES, header_problem=_training_header
)
"""How a file of training items reads: a header naming one kind's columns."""

CONTACT_TAGS_ROWS: Final = Rows(
    fields=_CONTACT_FIELDS,
    expected="contact_id,tags[,key]",
    header_problem=_contact_header,
)
"""How a file of contact taggings reads: a header naming contact_id and tags."""

"""Tagging many contacts: the kind of call ``contacts.link_tags_many`` makes, described for the
bulk engine and the ``contacts tag`` command's file reader, with the checks ``link_tags`` makes,
over linkContactTags (given by ``_contacts``, which declares it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .. import _validate as check
from .._endpoints import Endpoint
from .._exceptions import ConfigurationError
from ..bulk import ContactTagsItem
from ..bulk._items import BAD_KEY, generated_key, own_key, refused
from ..bulk._kind import BadRecord, BulkKind, Prepared
from ..bulk._platform_items import CONTACT_TAGS_ROWS, contact_tags_item
from ._base import record_id, tags

__all__ = ["tagging"]

_PLACEHOLDER: Final = ContactTagsItem(contact_id=0, tags=())


def tagging(endpoint: Endpoint[None]) -> BulkKind[ContactTagsItem, None]:
    """linkContactTags (``endpoint``) for many contacts, each checked as ``link_tags`` checks
    its arguments."""

    def prepare(raw: object, index: int) -> Prepared[ContactTagsItem]:
        try:
            item = contact_tags_item(raw)
        except BadRecord as error:
            key = generated_key(index, type(raw).__qualname__)
            return refused(index, _PLACEHOLDER, key, str(error))
        own = own_key(item.key)
        try:
            number = record_id("contact_id", item.contact_id)
            names = tags(item.tags, required=True)
        except ConfigurationError as error:
            return refused(index, item, own or generated_key(index, repr(item)), error.message)
        item = ContactTagsItem(number, tuple(names.split(",")), item.key)
        key = own or generated_key(index, f"{number}\x1f{names}")
        if item.key is not None and own is None:
            return refused(index, item, key, f"{BAD_KEY}; got {check.short(item.key)}")
        return Prepared(index, item, key, endpoint, {"contact_id": number, "tags": names})

    return BulkKind(
        what="contact's tags",
        accepts="ContactTagsItem, (contact_id, tags[, key]) tuples or mappings",
        prepare=prepare,
        own_key=_own_key,
        result=lambda prepared, reply: None,
        result_id=lambda reply: None,
        done="linked",
        check="Linking tags is safe to repeat: run it again (a resumed run links them again)",
        placeholder=_PLACEHOLDER,
        rows=CONTACT_TAGS_ROWS,
    )


def _own_key(raw: object) -> str | None:
    if isinstance(raw, Mapping):
        return own_key(raw.get("key"))
    if isinstance(raw, tuple):
        return own_key(raw[2]) if len(raw) == 3 else None
    return own_key(getattr(raw, "key", None))

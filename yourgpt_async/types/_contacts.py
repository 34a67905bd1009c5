"""A project's contacts, the lists that filter them, the companies they belong to, their tags."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import StrEnum, raw_field

__all__ = ["Company", "Contact", "ContactList", "ContactTag", "ContactType"]


class ContactType(StrEnum):
    """What kind of contact someone is; ``ALL`` only filters (``contacts.list(type=...)``)."""

    ALL = "ALL"
    """Every contact: as a filter, the same as none."""
    USERS = "USERS"
    """Users."""
    LEADS = "LEADS"
    """Leads."""
    SPAM = "SPAM"
    """Marked as spam."""


@attrs.frozen(kw_only=True)
class Contact:
    """A person the project's bot has talked to or collected.

    Attributes:
        id: The contact's id (what ``contacts.get`` and the link methods take).
        project_id: The numeric id of its project.
        name: Their name, when known.
        email: Their email address, when known.
        phone: Their phone number, when known.
        type: ``USERS``, ``LEADS`` or ``SPAM`` (a :class:`ContactType`; a value this
            version does not know stays a plain ``str``).
        tags: The names of its tags.
        company_id: The company it is linked to, if any.
        created_at: When it was created (aware, UTC).
        updated_at: When it last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    project_id: int | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    type: ContactType | str | None = None
    tags: tuple[str, ...] = ()
    company_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class ContactList:
    """A contact list: a saved filter over the contacts, not a set of members.

    Attributes:
        id: The list's id (``contacts.list(list_id=...)`` shows its contacts).
        project_id: The numeric id of its project.
        name: Its name.
        icon: Its icon's name, if set.
        filter_by: The filter, as the service holds it: ``{"operator": "and"|"or",
            "conditions": [{"model": "CONTACTS", "key": ..., "operator": "eq", "value":
            ...}]}`` (``contact_lists.update(filter_by=...)`` takes it back).
        created_at: When it was created (aware, UTC).
        updated_at: When it last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    project_id: int | None = None
    name: str = ""
    icon: str | None = None
    filter_by: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class Company:
    """A company that contacts are linked to, with those contacts.

    Attributes:
        id: The company's id.
        project_id: The numeric id of its project.
        name: Its name.
        website: Its website, if known.
        contacts: The contacts linked to it.
        created_at: When it was created (aware, UTC).
        updated_at: When it last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    project_id: int | None = None
    name: str = ""
    website: str | None = None
    contacts: tuple[Contact, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class ContactTag:
    """A tag contacts can carry (``contacts.link_tags`` links existing tags by name).

    Attributes:
        id: The tag's id.
        project_id: The numeric id of its project.
        name: Its name.
        created_at: When it was created (aware, UTC).
        updated_at: When it last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    project_id: int | None = None
    name: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()

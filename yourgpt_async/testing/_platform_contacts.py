"""The Platform API's contacts: contacts, contact lists (saved filters), companies and tags of
each project, and the handlers of the eleven endpoints that read and change them.

Behaviour, per the public reference (every refusal in the service's words):

- getAllContacts filters by ``type`` (``ALL``, ``USERS``, ``LEADS``, ``SPAM``), ``search`` (part
  of the name, email or phone, any case), ``tags`` (comma-separated: contacts with at least one
  of them), ``list_id`` (the list's saved filter, applied now), ``exclude_spam``, and ``from``
  and ``to`` (the creation day, UTC, inclusive); ordered by id (``orderBy``, ASC by default),
  paged with ``total``.
- A list's ``filter_by`` is ``{operator: and|or, conditions: [{model: "CONTACTS", key,
  operator: "eq", value}]}``; a condition on ``tags`` holds for a contact with that tag, on
  another field for a contact whose field has that value (as text); one on a field contacts do
  not have holds for none. Other models or operators are refused as invalid params.
- linkContactTags links tags that exist (refusing unknown names as invalid params) and keeps
  the contact's other tags; linkContactToCompany with no ``company_id`` unlinks; deleting a
  company unlinks its contacts; deleting a list leaves the contacts as they are.
- An unknown contact, list or company (or one of another project) is 404 "Not found".
- Tags may share a name (createContactTag is not idempotent); each create is in the ledger of
  writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

import attrs
from aiohttp import web

from .._endpoints import Family
from ..platform._contacts import (
    CREATE_CONTACT_LIST,
    CREATE_CONTACT_TAG,
    DELETE_CONTACT_COMPANY,
    DELETE_CONTACT_LIST,
    GET_ALL_CONTACT_TAGS,
    GET_ALL_CONTACTS,
    GET_CONTACT_COMPANY_DETAILS,
    GET_CONTACT_DETAIL,
    LINK_CONTACT_TAGS,
    LINK_CONTACT_TO_COMPANY,
    UPDATE_CONTACT_LIST,
)
from . import _params as read
from ._dispatch import handles
from ._params import Params, RequestError
from ._platform import Platform, ProjectRecord, TokenCaller
from ._responses import success
from ._state import iso, now

__all__ = [
    "CONTACT_TYPES",
    "CompanyRecord",
    "ContactBook",
    "ContactListRecord",
    "ContactRecord",
    "PlatformContacts",
    "TagRecord",
]

CONTACT_TYPES: Final = ("USERS", "LEADS", "SPAM")
"""The types a contact can have (``ALL`` is only a filter)."""
_FILTER_TYPES: Final = ("ALL", *CONTACT_TYPES)
_NOT_FOUND: Final = "Not found"
_FETCHED: Final = "Data Fetched Successfully!"
_CREATED: Final = "Data Created Successfully!"
_UPDATED: Final = "Data Updated Successfully!"
_DELETED: Final = "Data Deleted Successfully!"


@attrs.define
class ContactRecord:
    """A contact of a project."""

    id: int
    project_uid: str
    name: str | None
    email: str | None
    phone: str | None
    type: str
    tags: list[str]
    company_id: int | None
    created_at: datetime
    updated_at: datetime

    def value(self, key: str) -> object:
        """The value of one of its fields, by wire name (``None`` when it has no such field)."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "type": self.type,
            "company_id": self.company_id,
        }.get(key)

    def item(self, project_id: int) -> dict[str, object]:
        """The contact as the API shows it."""
        return {
            "id": self.id,
            "project_id": project_id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "type": self.type,
            "tags": ",".join(self.tags) or None,
            "company_id": self.company_id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@attrs.define
class CompanyRecord:
    """A company of a project."""

    id: int
    project_uid: str
    name: str
    website: str | None
    created_at: datetime
    updated_at: datetime


@attrs.define
class ContactListRecord:
    """A contact list: a saved filter."""

    id: int
    project_uid: str
    name: str
    icon: str | None
    filter_by: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def item(self, project_id: int) -> dict[str, object]:
        """The list as the API shows it."""
        return {
            "id": self.id,
            "project_id": project_id,
            "name": self.name,
            "icon": self.icon,
            "filter_by": self.filter_by,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }

    def selects(self, contact: ContactRecord) -> bool:
        """Whether its filter selects ``contact``."""
        results = (_holds(condition, contact) for condition in self.filter_by["conditions"])
        return any(results) if self.filter_by["operator"] == "or" else all(results)


@attrs.define
class TagRecord:
    """A contact tag of a project."""

    id: int
    project_uid: str
    name: str
    created_at: datetime
    updated_at: datetime


def _holds(condition: Mapping[str, Any], contact: ContactRecord) -> bool:
    key, expected = condition["key"], read.as_text(condition["value"])
    if key == "tags":
        return expected in contact.tags
    actual = contact.value(key)
    return actual is not None and read.as_text(actual) == expected


class ContactBook:
    """Every project's contacts, contact lists, companies and tags, by id (ids count up across
    projects, from the samples' first ids)."""

    def __init__(self) -> None:
        self.contacts: dict[int, ContactRecord] = {}
        self.companies: dict[int, CompanyRecord] = {}
        self.lists: dict[int, ContactListRecord] = {}
        self.tags: dict[int, TagRecord] = {}
        self._contact_ids = itertools.count(5501)
        self._company_ids = itertools.count(61)
        self._list_ids = itertools.count(41)
        self._tag_ids = itertools.count(301)

    def add_contact(
        self,
        project_uid: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        type: str = "LEADS",
        tags: Iterable[str] = (),
        company_id: int | None = None,
        created_at: datetime | None = None,
    ) -> ContactRecord:
        """Add a contact; tags the project does not have yet are made too.

        Raises:
            ValueError: An unknown ``type``, or ``company_id`` not a company of the project.
        """
        if type not in CONTACT_TYPES:
            raise ValueError(f"type must be one of {', '.join(CONTACT_TYPES)}, got {type!r}")
        if company_id is not None and self.company_of(project_uid, company_id) is None:
            raise ValueError(f"no company {company_id!r} in project {project_uid!r}")
        names = [tag.strip() for tag in tags if tag.strip()]
        known = self.tag_names(project_uid)
        for tag in dict.fromkeys(names):
            if tag not in known:
                self.add_tag(project_uid, tag)
        moment = created_at or now()
        record = ContactRecord(
            next(self._contact_ids),
            project_uid,
            name,
            email,
            phone,
            type,
            list(dict.fromkeys(names)),
            company_id,
            moment,
            moment,
        )
        self.contacts[record.id] = record
        return record

    def add_company(
        self, project_uid: str, name: str, *, website: str | None = None
    ) -> CompanyRecord:
        """Add a company."""
        moment = now()
        record = CompanyRecord(next(self._company_ids), project_uid, name, website, moment, moment)
        self.companies[record.id] = record
        return record

    def add_tag(self, project_uid: str, name: str) -> TagRecord:
        """Add a tag (a second one of the same name too: the service does not refuse it)."""
        moment = now()
        record = TagRecord(next(self._tag_ids), project_uid, name, moment, moment)
        self.tags[record.id] = record
        return record

    def add_list(
        self, project_uid: str, name: str, filter_by: dict[str, Any], icon: str | None
    ) -> ContactListRecord:
        """Add a contact list."""
        moment = now()
        record = ContactListRecord(
            next(self._list_ids), project_uid, name, icon, filter_by, moment, moment
        )
        self.lists[record.id] = record
        return record

    def contacts_of(self, project_uid: str) -> list[ContactRecord]:
        """A project's contacts, by id."""
        return [c for c in self.contacts.values() if c.project_uid == project_uid]

    def tag_names(self, project_uid: str) -> set[str]:
        """The names of a project's tags."""
        return {tag.name for tag in self.tags.values() if tag.project_uid == project_uid}

    def company_of(self, project_uid: str, company_id: int) -> CompanyRecord | None:
        """A project's company, or ``None``."""
        company = self.companies.get(company_id)
        return company if company is not None and company.project_uid == project_uid else None


# -- reading parameters ---------------------------------------------------------------------


def _flag(params: Params, field: str) -> bool:
    value = params.get(field)
    if value is None or value == "" or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) or str(value).strip().lower() in ("true", "false", "1", "0"):
        return str(value).strip().lower() in ("true", "1")
    raise read.invalid(field, f"{field} must be a boolean")


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _filter_by(params: Params) -> dict[str, Any] | None:
    """A list's filter, checked (``{operator, conditions: [{model, key, operator, value}]}``);
    ``None`` when not given."""
    raw = read.json_field(
        params, "filter_by", read.invalid("filter_by", "filter_by must be an object")
    )
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("operator") not in ("and", "or"):
        raise read.invalid("filter_by", "filter_by.operator must be and or or")
    conditions = raw.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        raise read.invalid("filter_by", "filter_by.conditions must be a non-empty array")
    for condition in conditions:
        if not isinstance(condition, dict) or not isinstance(condition.get("key"), str):
            raise read.invalid("filter_by", "each condition must have a key")
        if condition.get("model") != "CONTACTS":
            raise read.invalid("filter_by", "a condition's model must be CONTACTS")
        if condition.get("operator") != "eq":
            raise read.invalid("filter_by", "a condition's operator must be eq")
        if isinstance(condition.get("value"), (dict, list)) or "value" not in condition:
            raise read.invalid("filter_by", "a condition's value must be a string or number")
    return {"operator": raw["operator"], "conditions": conditions}


class _Owned(Protocol):
    @property
    def project_uid(self) -> str: ...


OwnedT = TypeVar("OwnedT", bound=_Owned)


def _of_project(records: Mapping[int, OwnedT], record_id: int, project: ProjectRecord) -> OwnedT:
    """The record of ``project`` with id ``record_id``; 404 "Not found" for none."""
    found = records.get(record_id)
    if found is None or found.project_uid != project.project_uid:
        raise RequestError(404, _NOT_FOUND)
    return found


class PlatformContacts:
    """The contacts of the token's projects, with their lists, companies and tags."""

    def __init__(self, platform: Platform, book: ContactBook) -> None:
        self._platform = platform
        self._book = book

    # -- lookups, each "Not found" outside the project ----------------------------------------

    def _contact(self, record: ProjectRecord, params: Params) -> ContactRecord:
        return _of_project(self._book.contacts, read.required_id(params, "contact_id"), record)

    def _company(self, record: ProjectRecord, company_id: int) -> CompanyRecord:
        return _of_project(self._book.companies, company_id, record)

    def _list(self, record: ProjectRecord, list_id: int) -> ContactListRecord:
        return _of_project(self._book.lists, list_id, record)

    # -- contacts -------------------------------------------------------------------------------

    @handles(GET_ALL_CONTACTS, Family.PLATFORM)
    async def get_all_contacts(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, GET_ALL_CONTACTS)
        kind = read.choice(params, "type", _FILTER_TYPES)
        search = (read.text(params, "search") or "").lower()
        wanted = set(_names(read.text(params, "tags")))
        list_id = read.record_id(params, "list_id")
        saved = None if list_id is None else self._list(record, list_id)
        no_spam = _flag(params, "exclude_spam")
        start, end = read.day(params, "from"), read.day(params, "to")
        order = read.order(params, "orderBy")
        page, limit = read.paging(params)

        def kept(contact: ContactRecord) -> bool:
            day = contact.created_at.date()
            text = " ".join(filter(None, (contact.name, contact.email, contact.phone))).lower()
            return (
                kind in (None, "ALL", contact.type)
                and search in text
                and (not wanted or not wanted.isdisjoint(contact.tags))
                and (saved is None or saved.selects(contact))
                and not (no_spam and contact.type == "SPAM")
                and (start is None or day >= start)
                and (end is None or day <= end)
            )

        found = read.by_id(
            filter(kept, self._book.contacts_of(record.project_uid)),
            order,
        )
        items = [contact.item(record.id) for contact in found]
        return success(_FETCHED, read.page_of(items, page, limit), total=len(items))

    @handles(GET_CONTACT_DETAIL, Family.PLATFORM)
    async def get_contact_detail(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, GET_CONTACT_DETAIL)
        return success(_FETCHED, self._contact(record, params).item(record.id))

    @handles(LINK_CONTACT_TO_COMPANY, Family.PLATFORM)
    async def link_contact_to_company(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, LINK_CONTACT_TO_COMPANY)
        contact = self._contact(record, params)
        company_id = read.record_id(params, "company_id")
        if company_id is not None:
            self._company(record, company_id)
        contact.company_id = company_id
        contact.updated_at = now()
        return success(_UPDATED, None)

    @handles(LINK_CONTACT_TAGS, Family.PLATFORM)
    async def link_contact_tags(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, LINK_CONTACT_TAGS)
        contact = self._contact(record, params)
        names = _names(read.required(params, "tags"))
        known = self._book.tag_names(record.project_uid)
        missing = [name for name in names if name not in known]
        if missing:
            text = f"tags not found: {', '.join(missing)}"
            raise read.InvalidParams({"tags": text})
        contact.tags = list(dict.fromkeys([*contact.tags, *names]))
        contact.updated_at = now()
        return success(_UPDATED, None)

    # -- contact lists --------------------------------------------------------------------------

    @handles(CREATE_CONTACT_LIST, Family.PLATFORM)
    async def create_contact_list(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, CREATE_CONTACT_LIST)
        name = read.required(params, "name")
        filter_by = _filter_by(params)
        if filter_by is None:
            raise read.invalid("filter_by", "filter_by is required")
        icon = read.text(params, "icon")
        made = self._book.add_list(record.project_uid, name, filter_by, icon)
        self._platform.record(CREATE_CONTACT_LIST, record.project_uid, name=name)
        return success(_CREATED, made.item(record.id))

    @handles(UPDATE_CONTACT_LIST, Family.PLATFORM)
    async def update_contact_list(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, UPDATE_CONTACT_LIST)
        found = self._list(record, read.required_id(params, "list_id"))
        name = read.text(params, "name")
        filter_by = _filter_by(params)
        icon = read.text(params, "icon")
        if name is not None and not name.strip():
            raise read.invalid("name", "name must not be empty")
        if name is None and filter_by is None and icon is None:
            raise read.InvalidParams({"list_id": "nothing to update"})
        found.name = found.name if name is None else name
        found.filter_by = found.filter_by if filter_by is None else filter_by
        found.icon = found.icon if icon is None else icon
        found.updated_at = now()
        return success(_UPDATED, None)

    @handles(DELETE_CONTACT_LIST, Family.PLATFORM)
    async def delete_contact_list(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, DELETE_CONTACT_LIST)
        found = self._list(record, read.required_id(params, "list_id"))
        del self._book.lists[found.id]
        return success(_DELETED, None)

    # -- companies ------------------------------------------------------------------------------

    @handles(GET_CONTACT_COMPANY_DETAILS, Family.PLATFORM)
    async def get_contact_company_details(
        self, params: Params, caller: TokenCaller
    ) -> web.Response:
        record = caller.project(params, GET_CONTACT_COMPANY_DETAILS)
        company = self._company(record, read.required_id(params, "company_id"))
        members = [
            contact.item(record.id)
            for contact in self._book.contacts_of(record.project_uid)
            if contact.company_id == company.id
        ]
        data = {
            "id": company.id,
            "name": company.name,
            "website": company.website,
            "project_id": record.id,
            "createdAt": iso(company.created_at),
            "updatedAt": iso(company.updated_at),
            "contacts": members,
        }
        return success(_FETCHED, data)

    @handles(DELETE_CONTACT_COMPANY, Family.PLATFORM)
    async def delete_contact_company(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, DELETE_CONTACT_COMPANY)
        company = self._company(record, read.required_id(params, "company_id"))
        moment = now()
        for contact in self._book.contacts_of(record.project_uid):
            if contact.company_id == company.id:
                contact.company_id = None
                contact.updated_at = moment
        del self._book.companies[company.id]
        return success(_DELETED, None)

    # -- tags -----------------------------------------------------------------------------------

    @handles(GET_ALL_CONTACT_TAGS, Family.PLATFORM)
    async def get_all_contact_tags(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, GET_ALL_CONTACT_TAGS)
        search = (read.text(params, "search") or "").lower()
        order = read.order(params, "orderBy")
        page, limit = read.paging(params)
        found = read.by_id(
            (
                tag
                for tag in self._book.tags.values()
                if tag.project_uid == record.project_uid and search in tag.name.lower()
            ),
            order,
        )
        items = [_tag_item(tag, record.id) for tag in found]
        return success(_FETCHED, read.page_of(items, page, limit), total=len(items))

    @handles(CREATE_CONTACT_TAG, Family.PLATFORM)
    async def create_contact_tag(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, CREATE_CONTACT_TAG)
        name = read.required(params, "name")
        tag = self._book.add_tag(record.project_uid, name)
        self._platform.record(CREATE_CONTACT_TAG, record.project_uid, name=name)
        return success(_CREATED, _tag_item(tag, record.id))


def _tag_item(tag: TagRecord, project_id: int) -> dict[str, object]:
    return {
        "id": tag.id,
        "name": tag.name,
        "project_id": project_id,
        "createdAt": iso(tag.created_at),
        "updatedAt": iso(tag.updated_at),
    }

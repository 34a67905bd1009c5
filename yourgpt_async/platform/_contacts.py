"""A project's contacts, their lists, companies and tags (``yp.project(uid).contacts`` and
friends)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from datetime import date
from typing import Any, Final, Literal

from .. import _validate as check
from .._calls import Timeout
from .._config import RetryPolicy
from .._endpoints import Family, Safety, declare
from .._exceptions import ConfigurationError
from .._reconcile import FindBy
from .._replies import listing, nothing, one
from .._resource import calls
from ..bulk import BulkRun, BulkSummary, ContactTagsInput, ContactTagsItem
from ..bulk._start import start_run
from ..types import Company, Contact, ContactList, ContactTag, ContactType, Page, Priority
from ._base import ProjectResource, list_query
from ._base import record_id as _id
from ._base import tags as tag_names
from ._contact_filter import contact_filter
from ._contact_tagging import tagging

__all__ = ["Companies", "ContactLists", "Contacts", "Tags"]

_READ: Final = "Contacts › Read"
_WRITE: Final = "Contacts › Write"

GET_ALL_CONTACTS: Final = declare(
    "getAllContacts",
    safety=Safety.READ,
    reply=listing(Contact),
    families=Family.PLATFORM,
    summary="List a project's contacts, filtered, a page at a time.",
    permission=_READ,
)
GET_CONTACT_DETAIL: Final = declare(
    "getContactDetail",
    safety=Safety.READ,
    reply=one(Contact),
    families=Family.PLATFORM,
    summary="Get one contact of a project.",
    permission=_READ,
)
LINK_CONTACT_TO_COMPANY: Final = declare(
    "linkContactToCompany",
    safety=Safety.READ,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Link a contact to a company, or unlink it.",
    permission=_WRITE,
)
LINK_CONTACT_TAGS: Final = declare(
    "linkContactTags",
    safety=Safety.READ,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Link existing tags to a contact, by name.",
    permission=_WRITE,
)
CREATE_CONTACT_LIST: Final = declare(
    "createContactList",
    safety=Safety.CREATE,
    reply=one(ContactList),
    families=Family.PLATFORM,
    summary="Create a contact list: a saved filter over a project's contacts.",
    permission=_WRITE,
    check="no endpoint lists contact lists: look for it in the dashboard before creating it again",
)
UPDATE_CONTACT_LIST: Final = declare(
    "updateContactList",
    safety=Safety.READ,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Rename a contact list, or change its filter or icon.",
    permission=_WRITE,
)
DELETE_CONTACT_LIST: Final = declare(
    "deleteContactList",
    safety=Safety.DELETE,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Delete a contact list (its contacts stay).",
    permission=_WRITE,
)
GET_CONTACT_COMPANY_DETAILS: Final = declare(
    "getContactCompanyDetails",
    safety=Safety.READ,
    reply=one(Company),
    families=Family.PLATFORM,
    summary="Get a company, with the contacts linked to it.",
    permission=_READ,
)
DELETE_CONTACT_COMPANY: Final = declare(
    "deleteContactCompany",
    safety=Safety.DELETE,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Delete a company (its contacts are unlinked, not deleted).",
    permission=_WRITE,
)
GET_ALL_CONTACT_TAGS: Final = declare(
    "getAllContactTags",
    safety=Safety.READ,
    reply=listing(ContactTag),
    families=Family.PLATFORM,
    summary="List a project's contact tags, a page at a time.",
    permission=_READ,
)
CREATE_CONTACT_TAG: Final = declare(
    "createContactTag",
    safety=Safety.CREATE,
    reply=one(ContactTag),
    families=Family.PLATFORM,
    summary="Create a contact tag.",
    permission=_WRITE,
    reconcile=FindBy.factory(
        GET_ALL_CONTACT_TAGS,
        query=lambda payload: {
            "project_uid": payload["project_uid"],
            "search": payload["name"],
            "orderBy": "DESC",
        },
        same=lambda tag, payload: tag.name == payload["name"],
    ),
    check="look for it with tags.list(search=name) before creating it again",
)

_TYPES: Final = tuple(kind.value for kind in ContactType)


CONTACT_TAGS: Final = tagging(LINK_CONTACT_TAGS)  # for link_tags_many and `contacts tag`


def _contact_type(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in _TYPES:
        return value.upper()
    allowed = ", ".join(repr(kind) for kind in _TYPES)
    raise ConfigurationError(f"type must be one of {allowed}; got {check.short(value)}")


def _tag_name(value: object) -> str:
    name = check.text("name", value)
    if "," in name:
        raise ConfigurationError(
            f"a tag's name cannot contain a comma (tags are linked by their names, sent "
            f"comma-separated), got {name!r}"
        )
    return name


class Contacts(ProjectResource):
    """``project.contacts``: list and read contacts, link them to a company and to tags."""

    @calls(GET_ALL_CONTACTS)
    async def list(
        self,
        *,
        type: ContactType | str | None = None,
        search: str | None = None,
        tags: Iterable[str] | str | None = None,
        list_id: int | None = None,
        exclude_spam: bool | None = None,
        date_from: date | str | None = None,
        date_to: date | str | None = None,
        order: Literal["ASC", "DESC"] | None = None,
        page: int = 1,
        limit: int = 10,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[Contact]:
        """Get one page of the project's contacts, filtered; ``async for`` goes on through
        every later page.

        Args:
            type: ``"USERS"``, ``"LEADS"``, ``"SPAM"``, or ``"ALL"`` (a :class:`ContactType`
                or its value, in any case).
            search: Only contacts whose name, email or phone contains this.
            tags: Only contacts with these tags: a list of names or one comma-separated
                ``str``.
            list_id: Only the contacts a contact list's filter selects.
            exclude_spam: Leave out contacts marked as spam.
            date_from: Only contacts created on or after this day (a ``date`` or
                ``"YYYY-MM-DD"``).
            date_to: Only contacts created on or before this day.
            order: ``"ASC"`` or ``"DESC"``.
            page: The page number, from 1.
            limit: Contacts per page, 1 to 100.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The page, with ``total``.
        """
        query = list_query(
            search=search,
            order=order,
            date_from=date_from,
            date_to=date_to,
            type=_contact_type(type),
            tags=tag_names(tags),
            list_id=None if list_id is None else _id("list_id", list_id),
            exclude_spam=check.flag("exclude_spam", exclude_spam),
        )
        return await self._client._caller.page(
            GET_ALL_CONTACTS,
            self._payload(**query),
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    @calls(GET_CONTACT_DETAIL)
    async def get(
        self,
        contact_id: int,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Contact:
        """Get one contact.

        Args:
            contact_id: The contact's id.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The contact.

        Raises:
            NotFoundError: The project has no such contact.
        """
        payload = self._payload(contact_id=_id("contact_id", contact_id))
        return await self._client._caller.call(
            GET_CONTACT_DETAIL, payload, retry, timeout, priority
        )

    @calls(LINK_CONTACT_TO_COMPANY)
    async def link_company(
        self,
        contact_id: int,
        company_id: int | None,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Link a contact to a company (in place of any it had), or unlink it. Idempotent.

        Args:
            contact_id: The contact's id.
            company_id: The company's id; ``None`` unlinks the contact from its company.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Raises:
            NotFoundError: The project has no such contact or company.
        """
        payload = self._payload(contact_id=_id("contact_id", contact_id))
        payload["company_id"] = None if company_id is None else _id("company_id", company_id)
        await self._client._caller.call(LINK_CONTACT_TO_COMPANY, payload, retry, timeout, priority)

    @calls(LINK_CONTACT_TAGS)
    async def link_tags(
        self,
        contact_id: int,
        tags: Iterable[str] | str,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Link tags to a contact, by name. Idempotent: a tag it has already stays linked once.

        The tags must exist (``tags.create`` makes one); the service refuses a name it does not
        know with a :class:`~yourgpt_async.BadRequestError`. Whether tags the contact has but
        that are not named here stay linked is not documented; the emulator keeps them.

        Args:
            contact_id: The contact's id.
            tags: The tags' names: a list, or one comma-separated ``str``.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Raises:
            NotFoundError: The project has no such contact.
        """
        names = tag_names(tags, required=True)
        payload = self._payload(contact_id=_id("contact_id", contact_id), tags=names)
        await self._client._caller.call(LINK_CONTACT_TAGS, payload, retry, timeout, priority)

    def link_tags_many(
        self,
        items: Iterable[ContactTagsInput] | AsyncIterable[ContactTagsInput],
        *,
        concurrency: int | None = None,
        journal: str | os.PathLike[str] | None = None,
        progress: Callable[[BulkSummary], object] | None = None,
        ordered: bool = False,
        priority: Priority | str = Priority.BULK,
    ) -> BulkRun[ContactTagsItem, None]:
        """Link tags to many contacts (after a campaign, say), at most ``concurrency`` at a
        time, as :meth:`link_tags` does for one, and yield each one's outcome.

        Safe to repeat: what a killed run left in doubt is made again on resume. A missing
        contact or tag fails that item only; a refused token or a missing permission stops
        the run (:attr:`BulkRun.stopped_by`).

        Args:
            items: :class:`ContactTagsItem` s, ``(contact_id, tags[, key])`` tuples or dicts.
            concurrency: Most items in flight at once (default: ``max_concurrency``).
            journal: A file to record progress in and to resume from (created if absent).
            progress: Called with a :class:`BulkSummary` at most every 0.1 s, and at the end.
            ordered: Yield outcomes in input order instead of as they complete.
            priority: The items' :class:`Priority`: bulk, so that interactive calls go first.

        Returns:
            The run: an async iterator of outcomes (a ``Sent``'s ``reply`` is ``None``).
        """
        return start_run(
            CONTACT_TAGS,
            self._client._caller,
            items,
            fields={"project_uid": self._project_uid},
            concurrency=self._client._max_concurrency if concurrency is None else concurrency,
            priority=priority,
            ordered=ordered,
            journal=journal,
            progress=progress,
        )


class ContactLists(ProjectResource):
    """``project.contact_lists``: saved filters over the contacts.

    A list holds no members: it is a filter, and ``contacts.list(list_id=...)`` shows the
    contacts it selects at the time. A filter is given in the service's form or as a plain
    ``{key: value}`` dict for the contacts that match every pair::

        vip = await bot.contact_lists.create("VIP leads", {"tags": "vip", "type": "LEADS"})
        either = {"operator": "or", "conditions": [{"key": "tags", "value": "vip"},
                                                   {"key": "tags", "value": "gold"}]}
    """

    @calls(CREATE_CONTACT_LIST)
    async def create(
        self,
        name: str,
        filter_by: Mapping[str, Any],
        *,
        icon: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> ContactList:
        """Create a contact list: a named, saved filter over the project's contacts.

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second list (the API
        cannot list the lists, so the client cannot check for you).

        Args:
            name: The list's name.
            filter_by: Which contacts it holds: ``{"operator": "and"|"or", "conditions":
                [{"key": "tags", "value": "vip"}, ...]}`` (each condition's ``operator``
                defaults to ``"eq"`` and ``model`` to ``"CONTACTS"``), or ``{key: value, ...}``
                for the contacts that match every pair.
            icon: The name of its icon.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The new list, with its ``id``.
        """
        payload = self._payload(
            name=check.text("name", name),
            filter_by=contact_filter(filter_by),
            icon=None if icon is None else check.text("icon", icon),
        )
        return await self._client._caller.call(
            CREATE_CONTACT_LIST, payload, retry, timeout, priority
        )

    @calls(UPDATE_CONTACT_LIST)
    async def update(
        self,
        list_id: int,
        *,
        name: str | None = None,
        filter_by: Mapping[str, Any] | None = None,
        icon: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Change a contact list's name, filter or icon; the rest stays. Idempotent.

        Args:
            list_id: The list's id.
            name: Its new name.
            filter_by: Its new filter, in either form ``create`` takes.
            icon: Its new icon.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Raises:
            NotFoundError: The project has no such list.
        """
        changes = {
            "name": None if name is None else check.text("name", name),
            "filter_by": None if filter_by is None else contact_filter(filter_by),
            "icon": None if icon is None else check.text("icon", icon),
        }
        list_number = _id("list_id", list_id)
        if all(value is None for value in changes.values()):
            raise ConfigurationError("nothing to update: pass name, filter_by or icon")
        payload = self._payload(list_id=list_number, **changes)
        await self._client._caller.call(UPDATE_CONTACT_LIST, payload, retry, timeout, priority)

    @calls(DELETE_CONTACT_LIST)
    async def delete(
        self,
        list_id: int,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Delete a contact list; its contacts stay.

        Retried like a read: when an attempt that may have deleted it was lost, the retry's
        "Not found" counts as done.

        Args:
            list_id: The list's id.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Raises:
            NotFoundError: The project has no such list.
        """
        payload = self._payload(list_id=_id("list_id", list_id))
        await self._client._caller.call(DELETE_CONTACT_LIST, payload, retry, timeout, priority)


class Companies(ProjectResource):
    """``project.companies``: read and delete companies."""

    @calls(GET_CONTACT_COMPANY_DETAILS)
    async def get(
        self,
        company_id: int,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Company:
        """Get a company, with the contacts linked to it.

        Args:
            company_id: The company's id (a contact's ``company_id``).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The company, with its ``contacts``.

        Raises:
            NotFoundError: The project has no such company.
        """
        payload = self._payload(company_id=_id("company_id", company_id))
        return await self._client._caller.call(
            GET_CONTACT_COMPANY_DETAILS, payload, retry, timeout, priority
        )

    @calls(DELETE_CONTACT_COMPANY)
    async def delete(
        self,
        company_id: int,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Delete a company; its contacts are unlinked from it, not deleted.

        Retried like a read: when an attempt that may have deleted it was lost, the retry's
        "Not found" counts as done.

        Args:
            company_id: The company's id.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Raises:
            NotFoundError: The project has no such company.
        """
        payload = self._payload(company_id=_id("company_id", company_id))
        await self._client._caller.call(DELETE_CONTACT_COMPANY, payload, retry, timeout, priority)


class Tags(ProjectResource):
    """``project.tags``: list and create contact tags."""

    @calls(GET_ALL_CONTACT_TAGS)
    async def list(
        self,
        *,
        search: str | None = None,
        order: Literal["ASC", "DESC"] | None = None,
        page: int = 1,
        limit: int = 10,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[ContactTag]:
        """Get one page of the project's contact tags; ``async for`` goes on through every
        later page.

        Args:
            search: Only tags whose name contains this.
            order: ``"ASC"`` or ``"DESC"``.
            page: The page number, from 1.
            limit: Tags per page, 1 to 100.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The page, with ``total``.
        """
        return await self._client._caller.page(
            GET_ALL_CONTACT_TAGS,
            self._payload(**list_query(search=search, order=order)),
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    @calls(CREATE_CONTACT_TAG)
    async def create(
        self,
        name: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> ContactTag:
        """Create a contact tag, which ``contacts.link_tags`` can then link by its name.

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second tag; with
        ``RetryPolicy(reconcile=True)`` it lists the tags by name to settle it instead.

        Args:
            name: The tag's name (no commas: tags are linked by name, comma-separated).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The new tag.
        """
        payload = self._payload(name=_tag_name(name))
        return await self._client._caller.call(
            CREATE_CONTACT_TAG, payload, retry, timeout, priority
        )

"""``contacts list|show|tag`` and ``tags list|create``: a project's contacts and their tags,
with an organisation's token.

:func:`add_parsers` returns the ``contacts`` group, so that more subcommands can join it.
"""

from __future__ import annotations

import argparse

from ..types import Contact, ContactTag, ContactType
from ._args import (
    Commands,
    Parents,
    add_command,
    add_group,
    add_order,
    add_paging,
    add_project,
    day,
    nonblank,
    page_size,
    positive_int,
)
from ._clients import platform_client_for, project_uid
from ._listing import Runner, show_page
from ._output import EXIT_OK, Printer, plain, when

__all__ = ["COMMANDS", "add_parsers"]

_TYPES = tuple(kind.value for kind in ContactType)


def add_parsers(commands: Commands, parents: Parents) -> Commands:
    """Add ``contacts`` and ``tags`` with their subcommands; returns the ``contacts`` group,
    for more to join it."""
    group = add_group(
        commands,
        "contacts",
        "list and read a project's contacts, and tag them (token)",
        "The contacts a project's bot collected, with an organisation's token (--token); "
        "--project UID names the project (default: $YOURGPT_PROJECT_UID).",
        ("yourgpt-async contacts list --type LEADS", "yourgpt-async contacts tag 5 vip,gold"),
    )
    listing = add_command(
        group,
        "list",
        "list the project's contacts, filtered",
        "List a page of the project's contacts, filtered by type, text, tags, list or day.",
        (
            "yourgpt-async contacts list --type LEADS --tags vip",
            "yourgpt-async contacts list --search ada@ --from 2024-08-01 --all --json",
        ),
        parents.common,
        parents.as_json,
    )
    listing.add_argument(
        "--type", type=str.upper, choices=_TYPES, help="USERS, LEADS, SPAM or ALL (default: all)"
    )
    listing.add_argument("--search", help="only contacts whose name, email or phone has this")
    listing.add_argument("--tags", metavar="TAGS", help="only contacts with any of these tags")
    listing.add_argument(
        "--list", dest="list_id", type=positive_int, metavar="LIST_ID", help="a contact list's"
    )
    listing.add_argument("--exclude-spam", action="store_true", help="leave out spam")
    listing.add_argument("--from", dest="date_from", type=day, metavar="DAY", help="created from")
    listing.add_argument("--to", dest="date_to", type=day, metavar="DAY", help="created up to")
    add_order(listing, "ASC")
    add_paging(listing, "contacts")
    add_project(listing)
    _add_show_and_tag(group, parents)
    _add_tags(commands, parents)
    return group


def _add_show_and_tag(group: Commands, parents: Parents) -> None:
    show = add_command(
        group,
        "show",
        "show one contact",
        "Show one of the project's contacts, by its id.",
        ("yourgpt-async contacts show 5", "yourgpt-async contacts show 5 --json"),
        parents.common,
        parents.as_json,
    )
    show.add_argument("contact_id", type=positive_int, metavar="CONTACT_ID")
    add_project(show)
    tag = add_command(
        group,
        "tag",
        "link tags to a contact, by name",
        "Link tags to a contact, by their names, comma-separated; they must exist (`tags "
        "create` makes one). The contact's other tags stay.",
        ("yourgpt-async contacts tag 5 vip", "yourgpt-async contacts tag 5 vip,gold --json"),
        parents.common,
        parents.as_json,
    )
    tag.add_argument("contact_id", type=positive_int, metavar="CONTACT_ID")
    tag.add_argument("tags", type=nonblank, metavar="TAGS")
    add_project(tag)


def _add_tags(commands: Commands, parents: Parents) -> None:
    group = add_group(
        commands,
        "tags",
        "list and create a project's contact tags (token)",
        "The tags a project's contacts can have, with an organisation's token (--token); "
        "--project UID names the project (default: $YOURGPT_PROJECT_UID).",
        ("yourgpt-async tags list", "yourgpt-async tags create vip"),
    )
    listing = add_command(
        group,
        "list",
        "list the project's contact tags",
        "List a page of the project's contact tags.",
        ("yourgpt-async tags list", "yourgpt-async tags list --search vi --json"),
        parents.common,
        parents.as_json,
    )
    listing.add_argument("--search", help="only tags whose name contains this")
    add_order(listing, "ASC")
    add_paging(listing, "tags")
    add_project(listing)
    create = add_command(
        group,
        "create",
        "create a contact tag",
        "Create a contact tag, which `contacts tag` can then link by its name.",
        ("yourgpt-async tags create vip", "yourgpt-async tags create gold --reconcile --json"),
        parents.common,
        parents.as_json,
    )
    create.add_argument("name", type=nonblank, metavar="NAME")
    create.add_argument(
        "--reconcile",
        action="store_true",
        help="when no answer comes back, look for the tag by name: found, it counts as "
        "created; missing, it is sent again",
    )
    add_project(create)


# -- running them --------------------------------------------------------------------------------


def _contact_row(contact: Contact) -> tuple[str, ...]:
    return (
        str(contact.id or ""),
        contact.name or "",
        contact.email or "",
        contact.phone or "",
        str(contact.type or ""),
        ",".join(contact.tags),
        when(contact.created_at),
    )


async def _contacts_list(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        page = await yp.project(project_uid(args)).contacts.list(
            type=args.type,
            search=args.search,
            tags=args.tags,
            list_id=args.list_id,
            exclude_spam=args.exclude_spam or None,
            date_from=args.date_from,
            date_to=args.date_to,
            order=args.order,
            page=args.page,
            limit=page_size(args),
        )
        columns = ("id", "name", "email", "phone", "type", "tags", "created")
        return await show_page(args, out, page, columns=columns, row=_contact_row, noun="contacts")


async def _contacts_show(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        contact = await yp.project(project_uid(args)).contacts.get(args.contact_id)
    if args.json:
        out.json(plain(contact))
        return EXIT_OK
    for name, value in (
        ("id", contact.id),
        ("name", contact.name),
        ("email", contact.email),
        ("phone", contact.phone),
        ("type", contact.type),
        ("tags", ", ".join(contact.tags)),
        ("company_id", contact.company_id),
        ("created", when(contact.created_at)),
        ("updated", when(contact.updated_at)),
    ):
        out.line(f"{name:>10}: {'' if value is None else value}")
    return EXIT_OK


async def _contacts_tag(args: argparse.Namespace, out: Printer) -> int:
    names = [name.strip() for name in args.tags.split(",") if name.strip()]
    async with platform_client_for(args) as yp:
        await yp.project(project_uid(args)).contacts.link_tags(args.contact_id, names)
    if args.json:
        out.json({"contact_id": args.contact_id, "tags": names})
    else:
        out.line(f"tagged contact {args.contact_id}: {', '.join(names)}")
    return EXIT_OK


def _tag_row(tag: ContactTag) -> tuple[str, ...]:
    return (str(tag.id or ""), tag.name, when(tag.created_at))


async def _tags_list(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        page = await yp.project(project_uid(args)).tags.list(
            search=args.search, order=args.order, page=args.page, limit=page_size(args)
        )
        return await show_page(
            args, out, page, columns=("id", "name", "created"), row=_tag_row, noun="tags"
        )


async def _tags_create(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        tag = await yp.project(project_uid(args)).tags.create(args.name)
    if args.json:
        out.json(plain(tag))
    else:
        out.line(f"created tag {tag.id}: {tag.name}")
    return EXIT_OK


COMMANDS: dict[str, Runner] = {
    "contacts list": _contacts_list,
    "contacts show": _contacts_show,
    "contacts tag": _contacts_tag,
    "tags list": _tags_list,
    "tags create": _tags_create,
}
"""The commands of this module, by name."""

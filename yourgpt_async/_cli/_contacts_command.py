"""``contacts list|show|tag`` and ``tags list|create``: a project's contacts and their tags,
with an organisation's token.

:func:`add_parsers` returns the ``contacts`` group, so that more subcommands can join it.
"""

from __future__ import annotations

import argparse
import asyncio
import textwrap

from .._exceptions import ConfigurationError
from ..types import Contact, ContactTag, ContactType
from ._args import (
    EXAMPLES,
    EXIT_CODES,
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
    set_examples,
)
from ._clients import platform_client_for, project_uid
from ._listing import Runner, show_page
from ._output import EXIT_OK, Printer, plain, when

__all__ = ["COMMANDS", "TAG_EXAMPLES", "add_one_contact", "add_parsers", "add_tags"]

_TYPES = tuple(kind.value for kind in ContactType)


def add_parsers(commands: Commands, parents: Parents) -> Commands:
    """Add ``contacts`` with ``list`` and ``show``; returns the group, for ``tag`` (whose
    FILE form is the bulk command's) and more to join it."""
    group = add_group(
        commands,
        "contacts",
        "list and read a project's contacts, and tag them (token)",
        "The contacts a project's bot collected, with an organisation's token (--token); "
        "--project UID names the project (default: $YOURGPT_PROJECT_UID).",
        (
            "yourgpt-async contacts list --type LEADS",
            "yourgpt-async contacts tag 5501 vip,gold",
            'yourgpt-async contacts tag campaign.csv --project "$project"',
        ),
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
    return group


TAG_EXAMPLES = (
    "yourgpt-async contacts tag 5501 vip                 one contact",
    "yourgpt-async contacts tag 5501 vip,gold --json",
)
"""Examples of ``contacts tag`` for one contact (its FILE form has its own)."""

# The options of `contacts tag` that its one-contact form (CONTACT_ID TAGS) accepts too; the
# others are its FILE form's (a bulk run) alone.
_ONE_CONTACT_OPTIONS = frozenset(
    {"help", "json", "project", "verbose", "api_key", "token", "widget_uid", "base_url"}
)


def add_one_contact(group: Commands) -> None:
    """Let ``contacts tag`` (whose FILE form tags many contacts) also take ``CONTACT_ID
    TAGS``: the tags linked to one contact. The form is told by whether TAGS is given."""
    tag = group.choices["tag"]
    for action in tag._actions:
        if action.dest == "file":
            action.metavar = "FILE|CONTACT_ID"
    tag.add_argument(
        "tags",
        nargs="?",
        type=nonblank,
        metavar="TAGS",
        help="with CONTACT_ID: the tags to link to that one contact, comma-separated",
    )
    tag.description = (
        textwrap.fill(
            "With CONTACT_ID TAGS, link the tags (by their names, comma-separated; they must "
            "exist: `tags create` makes one) to that one contact; its other tags stay. With a "
            "FILE alone, link the tags of each of its lines to its contact, as a bulk run:",
            88,
        )
        + "\n\n"
        + (tag.description or "")
    )
    set_examples(tag, [*TAG_EXAMPLES, *EXAMPLES.get("contacts tag", ())], epilog=EXIT_CODES)
    many = tag.get_default("bulk_command")
    file_only = [
        action
        for action in tag._actions
        if action.option_strings and action.dest not in _ONE_CONTACT_OPTIONS
    ]

    def run(args: argparse.Namespace, out: Printer) -> int:
        if args.tags is None:
            return int(many(args, out))
        for action in file_only:
            if getattr(args, action.dest, action.default) != action.default:
                raise ConfigurationError(
                    f"{action.option_strings[0]} is for tagging from a FILE, not one contact"
                )
        args.contact_id = _contact_id(args.file)
        return asyncio.run(_contacts_tag(args, out))

    tag.set_defaults(bulk_command=run)


def _contact_id(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigurationError(
            f"CONTACT_ID must be a contact's id, a whole number of at least 1, got {text!r} "
            "(a FILE of contacts and tags is given alone, without TAGS)"
        )
    return number


def add_tags(commands: Commands, parents: Parents) -> None:
    """Add ``tags`` and its subcommands."""
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
    "tags list": _tags_list,
    "tags create": _tags_create,
}
"""The commands of this module, by name."""

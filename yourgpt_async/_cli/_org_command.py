"""``projects list|create|settings`` and ``members list|invite|remove``: what an organisation's
token manages above any one project's content."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from .._exceptions import ConfigurationError
from ..platform._organization import MAX_MEMBERS_PAGE, ROLES
from ..types import Invitation, Member, Project
from ._args import (
    Commands,
    Parents,
    add_command,
    add_group,
    add_order,
    add_paging,
    add_project,
    non_negative_int,
    nonblank,
    page_size,
    positive_int,
)
from ._clients import platform_client_for, project_uid
from ._listing import Runner, show_page
from ._output import EXIT_OK, Printer, plain, when

__all__ = ["COMMANDS", "add_members", "add_projects"]

_RECONCILE = (
    "when no answer comes back, look for it in the service: found, it counts as done; "
    "missing, it is sent again; in doubt only when that cannot tell"
)


def add_projects(commands: Commands, parents: Parents) -> None:
    """Add ``projects`` and its subcommands."""
    group = add_group(
        commands,
        "projects",
        "list, create and configure the organisation's projects (token)",
        "The organisation's projects (chatbots), with an organisation's token (--token).",
        (
            "yourgpt-async projects list",
            'yourgpt-async projects create "Support bot"',
            'yourgpt-async projects settings --project "$project" --model gpt-4o',
        ),
    )
    listing = add_command(
        group,
        "list",
        "list the projects the token can reach",
        "List the projects the token can reach (its project scope applies), with the "
        "project_uid every Platform API command takes and the widget_uid the API key's "
        "commands need.",
        (
            "yourgpt-async projects list",
            "yourgpt-async projects list --search support --json",
        ),
        parents.common,
        parents.as_json,
    )
    listing.add_argument("--search", help="only projects whose name contains this")
    add_order(listing, "ASC, by id")
    add_paging(listing, "projects", default=100)
    create = add_command(
        group,
        "create",
        "create a project and print its project_uid",
        "Create a project, a chatbot with a widget of its own, and print its project_uid "
        "(--json: the project, with its widget_uid). Needs an owner's token.",
        (
            'project=$(yourgpt-async projects create "Support bot")',
            'yourgpt-async projects create "Sales bot" --reconcile --json',
        ),
        parents.common,
        parents.as_json,
    )
    create.add_argument("name", type=nonblank, metavar="NAME")
    create.add_argument("--reconcile", action="store_true", help=_RECONCILE)
    _add_settings(group, parents)


def _add_settings(group: Commands, parents: Parents) -> None:
    settings = add_command(
        group,
        "settings",
        "change a project's name, retention or AI settings",
        "Change some of a project's settings; the others stay as they are. --name and "
        "--retention-days rename it and say how long it keeps conversations; the rest are "
        "its AI's settings (`yourgpt-async api getSupportedModels` lists the models).",
        (
            'yourgpt-async projects settings --project "$project" --model gpt-4o --temperature 0.3',
            'yourgpt-async projects settings --prompt "Answer in English." --no-add-page-link',
            'yourgpt-async projects settings --name "Support EU" --retention-days 30',
        ),
        parents.common,
        parents.as_json,
    )
    add_project(settings)
    settings.add_argument("--name", type=nonblank, help="rename the project")
    settings.add_argument(
        "--retention-days",
        type=non_negative_int,
        metavar="DAYS",
        help="days to keep conversations; 0 keeps them forever",
    )
    settings.add_argument("--prompt", help="the base prompt the AI follows")
    settings.add_argument("--restriction", help="what the AI must not do or talk about")
    settings.add_argument("--model", type=nonblank, help="the AI model (a model's value)")
    settings.add_argument("--temperature", type=float, help="0 (focused) to 2 (inventive)")
    settings.add_argument("--mode", choices=("agent", "chat"))
    settings.add_argument(
        "--chat-history-count", type=int, metavar="N", help="earlier messages the AI sees, 0-50"
    )
    settings.add_argument(
        "--max-nodes", type=int, metavar="N", help="knowledge chunks per answer, 1-10"
    )
    settings.add_argument(
        "--add-page-link",
        action=argparse.BooleanOptionalAction,
        help="whether answers link the page they come from",
    )
    for name, what in (("close", "closes"), ("resolve", "is marked resolved")):
        settings.add_argument(
            f"--auto-{name}-minutes",
            type=int,
            metavar="MINUTES",
            help=f"minutes of silence before a conversation {what}, 5-43200",
        )


def add_members(commands: Commands, parents: Parents) -> None:
    """Add ``members`` and its subcommands."""
    group = add_group(
        commands,
        "members",
        "list, invite and remove the organisation's members (token)",
        "The organisation's members and pending invitations, with an organisation's token "
        "(--token). Changing them needs an owner's token.",
        (
            "yourgpt-async members list",
            "yourgpt-async members invite ada@example.com --role editor",
        ),
    )
    listing = add_command(
        group,
        "list",
        "list the members, and the invitations still pending",
        "List a page of the organisation's members, then the invitations not yet accepted "
        "or revoked.",
        ("yourgpt-async members list", "yourgpt-async members list --all --json"),
        parents.common,
        parents.as_json,
    )
    add_paging(listing, "members", maximum=MAX_MEMBERS_PAGE)
    invite = add_command(
        group,
        "invite",
        "invite someone by email, with a role",
        "Invite someone to the organisation: the service emails them a link. Needs an "
        "owner's token.",
        (
            "yourgpt-async members invite ada@example.com --role editor",
            "yourgpt-async members invite bo@example.com --role viewer --reconcile --json",
        ),
        parents.common,
        parents.as_json,
    )
    invite.add_argument("email", type=nonblank, metavar="EMAIL")
    invite.add_argument("--role", choices=ROLES, required=True, help="the role they get")
    invite.add_argument("--reconcile", action="store_true", help=_RECONCILE)
    remove = add_command(
        group,
        "remove",
        "remove a member (never the organisation's creator)",
        "Remove a member from the organisation, by the id `members list` shows. Needs an "
        "owner's token; the organisation's creator cannot be removed.",
        ("yourgpt-async members remove 72",),
        parents.common,
        parents.as_json,
    )
    remove.add_argument("member_id", type=positive_int, metavar="MEMBER_ID")


# -- running them --------------------------------------------------------------------------------


def _project_row(project: Project) -> tuple[str, ...]:
    return (project.project_uid, project.name, project.widget_uid or "", when(project.created_at))


async def _projects_list(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        page = await yp.projects.list(
            search=args.search, order=args.order, page=args.page, limit=page_size(args)
        )
        columns = ("project_uid", "name", "widget_uid", "created")
        return await show_page(args, out, page, columns=columns, row=_project_row, noun="projects")


async def _projects_create(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        project = await yp.projects.create(args.name)
    if args.json:
        out.json(plain(project))
    else:
        out.line(project.project_uid)
    return EXIT_OK


_SETTINGS = (
    "prompt",
    "restriction",
    "model",
    "temperature",
    "mode",
    "chat_history_count",
    "max_nodes",
    "add_page_link",
    "auto_close_minutes",
    "auto_resolve_minutes",
)


async def _projects_settings(args: argparse.Namespace, out: Printer) -> int:
    uid = project_uid(args)
    project: dict[str, Any] = {"name": args.name}
    if args.retention_days is not None:
        project["retention"] = timedelta(days=args.retention_days)
    project = {name: value for name, value in project.items() if value is not None}
    settings = {name: getattr(args, name) for name in _SETTINGS}
    settings = {name: value for name, value in settings.items() if value is not None}
    if not (project or settings):
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in ("name", *_SETTINGS))
        raise ConfigurationError(
            f"nothing to change: pass at least one of {flags} or --retention-days"
        )
    async with platform_client_for(args) as yp:
        if project:
            await yp.projects.update(uid, **project)
        if settings:
            await yp.projects.update_settings(uid, **settings)
    changed = {**project, **settings}
    if "retention" in changed:
        changed["retention_days"] = args.retention_days
        del changed["retention"]
    if args.json:
        out.json({"project_uid": uid, "changed": changed})
    else:
        out.line(f"{uid}: changed " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    return EXIT_OK


def _member_row(member: Member) -> tuple[str, ...]:
    return (str(member.id or ""), member.name or "", member.email or "", member.role or "")


def _invitation_row(invitation: Invitation) -> tuple[str, ...]:
    return (invitation.hash, invitation.email, invitation.role or "", when(invitation.created_at))


async def _members_list(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        page = await yp.organization.list_members(page=args.page, limit=page_size(args))
        extras = {"invitations": [plain(invitation) for invitation in page.invitations]}
        columns = ("id", "name", "email", "role")
        await show_page(
            args, out, page, columns=columns, row=_member_row, noun="members", extras=extras
        )
    if not args.json and page.invitations:
        out.line("pending invitations:")
        rows = [_invitation_row(invitation) for invitation in page.invitations]
        out.table(("hash", "email", "role", "sent"), rows)
    return EXIT_OK


async def _members_invite(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        invitation = await yp.organization.invite(args.email, args.role)
    if args.json:
        out.json(plain(invitation))
    else:
        out.line(
            f"invited {invitation.email or args.email} as {invitation.role or args.role}: "
            f"{invitation.status or 'pending'} (hash {invitation.hash})"
        )
    return EXIT_OK


async def _members_remove(args: argparse.Namespace, out: Printer) -> int:
    async with platform_client_for(args) as yp:
        await yp.organization.remove_member(args.member_id)
    if args.json:
        out.json({"member_id": args.member_id, "removed": True})
    else:
        out.line(f"removed member {args.member_id}")
    return EXIT_OK


COMMANDS: dict[str, Runner] = {
    "projects list": _projects_list,
    "projects create": _projects_create,
    "projects settings": _projects_settings,
    "members list": _members_list,
    "members invite": _members_invite,
    "members remove": _members_remove,
}
"""The commands of this module, by name."""

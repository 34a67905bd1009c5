"""The token's organisation: its details, its members and the invitations it has sent."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import Page, raw_field
from ._projects import Project

__all__ = ["Invitation", "Member", "MemberPage", "Organization"]


@attrs.frozen(kw_only=True)
class Member:
    """A member of the organisation: a person and their role.

    The service nests the person (``Member: {name, email, ...}``); the model lifts them to the
    top. The organisation's details list members without the person.

    Attributes:
        id: The membership's id: what ``change_role`` and ``remove_member`` take.
        user_id: The person's user id.
        role: Their role in the organisation (``"owner"``, ``"editor"``, ``"viewer"``,
            ``"billing"``, ...).
        name: Their name, when the reply says.
        email: Their email address, when the reply says.
        profile_pic: A URL of their picture, if they have one.
        created_at: When they joined (aware, UTC).
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    user_id: int | None = None
    role: str | None = None
    name: str | None = None
    email: str | None = None
    profile_pic: str | None = None
    created_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class Invitation:
    """An invitation to join the organisation, sent to an email address.

    Attributes:
        id: The invitation's id.
        email: Who it was sent to.
        role: The role they get when they accept.
        hash: Its key: what ``revoke_invitation`` takes.
        status: ``"pending"`` until accepted or revoked.
        sent_by: The user id of who sent it.
        created_at: When it was sent (aware, UTC).
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    email: str = ""
    role: str | None = None
    hash: str = ""
    status: str | None = None
    sent_by: int | None = None
    created_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class Organization:
    """The organisation a token belongs to, as ``yp.organization.get()`` describes it.

    Attributes:
        id: Its id.
        name: Its name.
        created_by: The user id of who created it (that member cannot be removed).
        creator_name: Their name.
        creator_email: Their email address.
        members: Its members, with their roles (without name and email here: ``list_members``
            has those).
        projects: Its projects (``id``, ``name`` and ``project_uid`` only).
        created_at: When it was created (aware, UTC).
        updated_at: When it last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    name: str = ""
    created_by: int | None = None
    creator_name: str | None = None
    creator_email: str | None = None
    members: tuple[Member, ...] = ()
    projects: tuple[Project, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class MemberPage(Page[Member]):
    """A page of the organisation's members, which also carries its pending invitations.

    ``for member in page`` and ``async for member in page`` go over the members, as with any
    :class:`Page`; the invitations come with each page.

    Attributes:
        invitations: The invitations still pending, as the reply gives them beside the
            members.
    """

    invitations: tuple[Invitation, ...] = ()

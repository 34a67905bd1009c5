"""The organisation's people: its members (the creator an owner who cannot be removed) and the
invitations it has sent, and the Platform API's endpoints that read and change them."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Final

import attrs
from aiohttp import web

from .._endpoints import Family
from ..platform._organization import (
    CHANGE_ORGANIZATION_MEMBER_ROLE,
    GET_ORGANIZATION_DETAIL,
    GET_ORGANIZATION_MEMBERS,
    INVITE_ORGANIZATION_MEMBER,
    REMOVE_ORGANIZATION_MEMBER,
    REVOKE_ORGANIZATION_INVITATION,
)
from . import _params as read
from ._dispatch import handles
from ._params import Params, RequestError
from ._platform import Platform, TokenCaller
from ._responses import success
from ._state import iso, now

__all__ = ["InvitationRecord", "MemberRecord", "Members", "PlatformOrganization"]

ROLES: Final = ("owner", "editor", "viewer", "billing")
"""The roles a member can be given or invited with."""
MAX_MEMBERS_PAGE: Final = 1000
_FIRST_MEMBER_ID: Final = 71
_FIRST_INVITATION_ID: Final = 9
_NOT_FOUND: Final = "Not found"


@attrs.define
class MemberRecord:
    """A member of the emulated organisation.

    Attributes:
        id: The membership's id (what ``member_id`` names).
        user_id: The person's user id.
        email: Their email address.
        name: Their name.
        role: ``owner``, ``editor``, ``viewer`` or ``billing``.
        created_at: When they joined.
    """

    id: int
    user_id: int
    email: str
    name: str
    role: str
    created_at: datetime

    def item(self) -> dict[str, object]:
        """The member as getOrganizationMembers lists it, the person nested."""
        return {
            **self.brief(),
            "Member": {
                "id": self.user_id,
                "name": self.name,
                "email": self.email,
                "profile_pic": None,
            },
        }

    def brief(self) -> dict[str, object]:
        """The member as getOrganizationDetail lists it."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "role": self.role,
            "createdAt": iso(self.created_at),
        }


@attrs.define
class InvitationRecord:
    """An invitation the emulated organisation sent.

    Attributes:
        id: Its id.
        email: Who it was sent to.
        role: The role it offers.
        hash: Its key (what ``revokeOrganizationInvitation`` takes).
        created_at: When it was sent.
        status: ``pending``, then ``accepted`` or ``revoked``.
    """

    id: int
    email: str
    role: str
    hash: str
    created_at: datetime
    status: str = "pending"

    def item(self) -> dict[str, object]:
        """The invitation as the Platform API shows it."""
        return {
            "id": self.id,
            "sent_by": Platform.OWNER_ID,
            "email": self.email,
            "role": self.role,
            "hash": self.hash,
            "status": self.status,
            "createdAt": iso(self.created_at),
        }


class Members:
    """The organisation's members and invitations; its creator is the first member, an owner."""

    CREATOR_NAME: Final = "Emulated Owner"
    CREATOR_EMAIL: Final = "owner@example.com"

    def __init__(self) -> None:
        self._member_ids = itertools.count(_FIRST_MEMBER_ID)
        self._user_ids = itertools.count(Platform.OWNER_ID + 1)
        self._invitation_ids = itertools.count(_FIRST_INVITATION_ID)
        self.created_at = now()
        self.members: list[MemberRecord] = []
        self.invitations: list[InvitationRecord] = []
        self.creator = self._join(Platform.OWNER_ID, self.CREATOR_EMAIL, self.CREATOR_NAME, "owner")

    def _join(self, user_id: int, email: str, name: str, role: str) -> MemberRecord:
        member = MemberRecord(next(self._member_ids), user_id, email, name, role, now())
        self.members.append(member)
        return member

    def add(self, email: str, *, name: str | None = None, role: str = "editor") -> MemberRecord:
        """A new member (as if an invitation had been accepted)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        return self._join(next(self._user_ids), email, name or email.partition("@")[0], role)

    def invite(self, email: str, role: str) -> InvitationRecord:
        """A new pending invitation."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        number = next(self._invitation_ids)
        invitation = InvitationRecord(number, email, role, f"inv_{0x3F9A10 + number:06x}", now())
        self.invitations.append(invitation)
        return invitation

    def accept(self, key: str) -> MemberRecord:
        """The pending invitation ``key`` accepted: its invitee is a member now."""
        invitation = next((i for i in self.invitations if i.hash == key), None)
        if invitation is None or invitation.status != "pending":
            raise ValueError(f"no pending invitation has the hash {key!r}")
        invitation.status = "accepted"
        return self.add(invitation.email, role=invitation.role)

    def pending(self) -> list[InvitationRecord]:
        """The invitations still pending, newest first."""
        return [i for i in reversed(self.invitations) if i.status == "pending"]

    def member(self, params: Params) -> MemberRecord:
        """The member ``params`` names by ``member_id``; 404 "Not found" for none."""
        member_id = read.integer(params, "member_id", default=0, minimum=0, maximum=None)
        if not member_id:
            raise read.invalid("member_id", "member_id is required")
        found = next((m for m in self.members if m.id == member_id), None)
        if found is None:
            raise RequestError(404, _NOT_FOUND)
        return found


class PlatformOrganization:
    """The organisation endpoints of the Platform API, for the token's organisation."""

    def __init__(self, platform: Platform, members: Members) -> None:
        self._platform = platform
        self._members = members

    @handles(GET_ORGANIZATION_DETAIL, Family.PLATFORM)
    async def get_organization_detail(self, params: Params, caller: TokenCaller) -> web.Response:
        caller.require(GET_ORGANIZATION_DETAIL)
        people = self._members
        stamp = iso(people.created_at)
        data = {
            "id": Platform.ORGANIZATION_ID,
            "name": Platform.ORGANIZATION,
            "created_by": Platform.OWNER_ID,
            "createdAt": stamp,
            "updatedAt": stamp,
            "user": {
                "id": Platform.OWNER_ID,
                "name": people.creator.name,
                "email": people.creator.email,
            },
            "OrganizationMembers": [member.brief() for member in people.members],
            "OrganizationProjects": [
                {"id": record.id, "name": record.name, "project_uid": record.project_uid}
                for record in self._platform.projects.values()
                if caller.reaches(record)
            ],
        }
        return success("Data Fetched Successfully!", data)

    @handles(GET_ORGANIZATION_MEMBERS, Family.PLATFORM)
    async def get_organization_members(self, params: Params, caller: TokenCaller) -> web.Response:
        caller.require(GET_ORGANIZATION_MEMBERS)
        page, limit = read.paging(params, maximum=MAX_MEMBERS_PAGE)
        members = [member.item() for member in self._members.members]
        data = {
            "organizationMember": read.page_of(members, page, limit),
            "invitations": [invitation.item() for invitation in self._members.pending()],
        }
        return success("Data Fetched Successfully!", data, total=len(members))

    @handles(INVITE_ORGANIZATION_MEMBER, Family.PLATFORM)
    async def invite_organization_member(self, params: Params, caller: TokenCaller) -> web.Response:
        caller.require(INVITE_ORGANIZATION_MEMBER)
        email = read.required(params, "email").strip()
        if "@" not in email.strip("@"):
            raise read.invalid("email", "email must be a valid email address")
        role = read.choice(params, "role", ROLES)
        if role is None:
            raise read.invalid("role", "role is required")
        if any(member.email.lower() == email.lower() for member in self._members.members):
            raise read.invalid("email", "email is already a member of the organization")
        invitation = self._members.invite(email, role)
        self._platform.record(INVITE_ORGANIZATION_MEMBER, None, email=email, role=role)
        return success("Invitation sent successfully", invitation.item())

    @handles(CHANGE_ORGANIZATION_MEMBER_ROLE, Family.PLATFORM)
    async def change_organization_member_role(
        self, params: Params, caller: TokenCaller
    ) -> web.Response:
        caller.require(CHANGE_ORGANIZATION_MEMBER_ROLE)
        role = read.choice(params, "role", ROLES)
        if role is None:
            raise read.invalid("role", "role is required")
        member = self._members.member(params)
        if member is self._members.creator and role != "owner":
            raise read.invalid("member_id", "the organization's creator stays its owner")
        member.role = role
        return success("Member role updated successfully", None)

    @handles(REMOVE_ORGANIZATION_MEMBER, Family.PLATFORM)
    async def remove_organization_member(self, params: Params, caller: TokenCaller) -> web.Response:
        caller.require(REMOVE_ORGANIZATION_MEMBER)
        member = self._members.member(params)
        if member is self._members.creator:
            raise read.invalid("member_id", "the organization's creator cannot be removed")
        self._members.members.remove(member)
        self._platform.record(REMOVE_ORGANIZATION_MEMBER, None, member_id=member.id)
        return success("Member removed successfully", None)

    @handles(REVOKE_ORGANIZATION_INVITATION, Family.PLATFORM)
    async def revoke_organization_invitation(
        self, params: Params, caller: TokenCaller
    ) -> web.Response:
        caller.require(REVOKE_ORGANIZATION_INVITATION)
        key = read.required(params, "hash")
        invitation = next((i for i in self._members.invitations if i.hash == key), None)
        if invitation is None or invitation.status == "revoked":
            raise RequestError(404, _NOT_FOUND)
        if invitation.status != "pending":
            raise read.invalid("hash", f"the invitation is {invitation.status}, not pending")
        invitation.status = "revoked"
        self._platform.record(REVOKE_ORGANIZATION_INVITATION, None, hash=key)
        return success("Invitation revoked successfully", None)

"""The token's organisation: its details, members and invitations (``yp.organization``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, cast

from .. import _validate as check
from .._calls import Timeout
from .._config import RetryPolicy
from .._endpoints import Family, Safety, declare
from .._exceptions import ConfigurationError
from .._reconcile import FindBy
from .._replies import listing, nothing, one
from .._resource import Resource, calls
from ..types import Invitation, Member, MemberPage, Organization, Page, Priority

__all__ = ["OrganizationResource"]

MAX_MEMBERS_PAGE: Final = 1000
"""The most members getOrganizationMembers gives in one page."""

ROLES: Final = ("owner", "editor", "viewer", "billing")
"""The roles a member can be given."""

Role = Literal["owner", "editor", "viewer", "billing"]


def _invitations(page: Page[Any]) -> Sequence[Any]:
    """The candidates of a members page for a read-back: its pending invitations."""
    return page.invitations if isinstance(page, MemberPage) else ()


def _same_invitation(invitation: Invitation, payload: Mapping[str, Any]) -> bool:
    return invitation.email.lower() == str(payload["email"]).lower()


GET_ORGANIZATION_DETAIL: Final = declare(
    "getOrganizationDetail",
    safety=Safety.READ,
    reply=one(Organization),
    families=Family.PLATFORM,
    summary="Describe the token's organisation: its creator, members and projects.",
)
GET_ORGANIZATION_MEMBERS: Final = declare(
    "getOrganizationMembers",
    safety=Safety.READ,
    reply=listing(
        Member, items="organizationMember", extras={"invitations": Invitation}, page=MemberPage
    ),
    families=Family.PLATFORM,
    summary="List the organisation's members, a page at a time, with its pending invitations.",
)
INVITE_ORGANIZATION_MEMBER: Final = declare(
    "inviteOrganizationMember",
    safety=Safety.CREATE,
    reply=one(Invitation),
    families=Family.PLATFORM,
    summary="Invite someone to the organisation by email, with a role.",
    permission="Owner",
    reconcile=FindBy.factory(
        GET_ORGANIZATION_MEMBERS,
        query=lambda payload: {},
        same=_same_invitation,
        items=_invitations,
    ),
    check="look for it among the pending invitations (organization.list_members())",
)
CHANGE_ORGANIZATION_MEMBER_ROLE: Final = declare(
    "changeOrganizationMemberRole",
    safety=Safety.READ,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Give a member of the organisation another role.",
    permission="Owner",
)
REMOVE_ORGANIZATION_MEMBER: Final = declare(
    "removeOrganizationMember",
    safety=Safety.DELETE,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Remove a member from the organisation (never its creator).",
    permission="Owner",
)
REVOKE_ORGANIZATION_INVITATION: Final = declare(
    "revokeOrganizationInvitation",
    safety=Safety.DELETE,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Withdraw an invitation that is still pending.",
    permission="Owner",
)


def _member_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            "member_id must be a membership's id, an int of at least 1 (Member.id, from "
            f"list_members()), got {check.short(value)}"
        )
    return value


class OrganizationResource(Resource):
    """``yp.organization``: the organisation, its members and its invitations.

    The organisation is the token's own: no call names it. Changing members needs an
    owner's token.
    """

    @calls(GET_ORGANIZATION_DETAIL)
    async def get(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Organization:
        """Describe the token's organisation: its name, creator, members and projects.

        Args:
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.
        """
        return await self._client._caller.call(
            GET_ORGANIZATION_DETAIL, {}, retry, timeout, priority
        )

    @calls(GET_ORGANIZATION_MEMBERS)
    async def list_members(
        self,
        *,
        page: int = 1,
        limit: int = 10,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> MemberPage:
        """Get one page of the organisation's members, with its pending invitations.

        ``async for member in await yp.organization.list_members()`` goes through every page;
        ``page.invitations`` holds the invitations not yet accepted or revoked.

        Args:
            page: The page number, from 1.
            limit: Members per page, 1 to 1,000.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The page (a :class:`~yourgpt_async.MemberPage`), with ``total`` and
            ``invitations``.
        """
        found = await self._client._caller.page(
            GET_ORGANIZATION_MEMBERS,
            {},
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
            max_limit=MAX_MEMBERS_PAGE,
        )
        return cast(MemberPage, found)  # the page class the declaration names

    @calls(INVITE_ORGANIZATION_MEMBER)
    async def invite(
        self,
        email: str,
        role: Role,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Invitation:
        """Invite someone to the organisation: the service emails them a link. Owner only.

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second invitation;
        with ``RetryPolicy(reconcile=True)`` it looks for the invitation among the pending ones
        (by email) to settle it instead.

        Args:
            email: Their email address.
            role: The role they get: ``"owner"``, ``"editor"``, ``"viewer"`` or
                ``"billing"``.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The invitation, pending, with the ``hash`` that revokes it.
        """
        payload = {"email": check.email("email", email), "role": check.literal("role", role, ROLES)}
        return await self._client._caller.call(
            INVITE_ORGANIZATION_MEMBER, payload, retry, timeout, priority
        )

    @calls(CHANGE_ORGANIZATION_MEMBER_ROLE)
    async def change_role(
        self,
        member_id: int,
        role: Role,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Give a member another role. Owner only; idempotent.

        Args:
            member_id: The membership (``Member.id`` from :meth:`list_members`, not the
                user id).
            role: ``"owner"``, ``"editor"``, ``"viewer"`` or ``"billing"``.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.
        """
        payload = {"member_id": _member_id(member_id), "role": check.literal("role", role, ROLES)}
        await self._client._caller.call(
            CHANGE_ORGANIZATION_MEMBER_ROLE, payload, retry, timeout, priority
        )

    @calls(REMOVE_ORGANIZATION_MEMBER)
    async def remove_member(
        self,
        member_id: int,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Remove a member from the organisation. Owner only; its creator cannot be removed.

        Retried like a read: when an attempt that may have landed is followed by "Not found",
        the member is gone, and that counts as done.

        Args:
            member_id: The membership (``Member.id`` from :meth:`list_members`).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.
        """
        payload = {"member_id": _member_id(member_id)}
        await self._client._caller.call(
            REMOVE_ORGANIZATION_MEMBER, payload, retry, timeout, priority
        )

    @calls(REVOKE_ORGANIZATION_INVITATION)
    async def revoke_invitation(
        self,
        invitation_hash: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Withdraw an invitation while it is pending. Owner only.

        Retried like a read: when an attempt that may have landed is followed by "Not found",
        the invitation is gone, and that counts as done.

        Args:
            invitation_hash: The invitation's ``hash`` (from :meth:`invite` or
                ``list_members().invitations``).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.
        """
        payload = {"hash": check.text("invitation_hash", invitation_hash)}
        await self._client._caller.call(
            REVOKE_ORGANIZATION_INVITATION, payload, retry, timeout, priority
        )

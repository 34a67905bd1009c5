"""The organisation, for an organisation's token (``yp.organization``): against the emulator,
and against small servers that check the exact request and send each reply shape the pages
show. Also the token's own failures (revoked, expired, inactive), which any endpoint meets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _fakes import FakeClock, PlatformFactory, token
from _hostile import SAMPLES, TOKEN, HostileServer, http, leaks, sample

from yourgpt_async import (
    AsyncPlatformClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    DeliveryUnknownError,
    Invitation,
    Member,
    MemberPage,
    NotFoundError,
    Organization,
    PermissionDeniedError,
    RetryPolicy,
    UnexpectedResponseError,
)
from yourgpt_async._converter import make_converter
from yourgpt_async.testing import Emulator, Fault


def envelope(data: object = None, **extra: object) -> bytes:
    """An RXSUCCESS reply, with ``data`` unless it is ``None``."""
    body: dict[str, object] = {"type": "RXSUCCESS", "message": "ok", **extra}
    if data is not None:
        body["data"] = data
    return http(body)


# -- the organisation ----------------------------------------------------------------------


async def test_get_describes_the_tokens_organisation(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """Its name, its creator (an owner, by name and email), its members and its projects."""
    ada = emulator.add_member("ada@example.com", name="Ada", role="viewer")
    detail = await yp.organization.get()
    assert isinstance(detail, Organization)
    assert detail.name == "Emulated organisation"
    creator = emulator.members[0]
    assert (detail.created_by, detail.creator_email) == (creator.user_id, creator.email)
    assert [(m.id, m.role) for m in detail.members] == [(creator.id, "owner"), (ada, "viewer")]
    assert emulator.project_uid in {project.project_uid for project in detail.projects}


async def test_members_come_a_page_at_a_time_with_the_pending_invitations(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """A MemberPage: members with name and email, the total, and every pending invitation."""
    for name in ("ada", "grace", "linus"):
        emulator.add_member(f"{name}@example.com")
    emulator.add_invitation("new@example.com", role="billing")
    page = await yp.organization.list_members(limit=2)
    assert isinstance(page, MemberPage)
    assert page.total == 4
    assert [member.email for member in page] == ["owner@example.com", "ada@example.com"]
    assert all(isinstance(member, Member) and member.name for member in page)
    assert [(i.email, i.role, i.status) for i in page.invitations] == [
        ("new@example.com", "billing", "pending")
    ]
    walked = [member.email async for member in page]
    assert walked[2:] == ["grace@example.com", "linus@example.com"]
    second = await page.get_next_page()
    assert isinstance(second, MemberPage)
    assert second.invitations == page.invitations


async def test_a_members_page_may_hold_up_to_a_thousand(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """limit goes up to 1,000 here (not 100); 1,001 is refused before anything is sent."""
    page = await yp.organization.list_members(limit=1000)
    assert page.limit == 1000
    with pytest.raises(ConfigurationError, match="1000"):
        await yp.organization.list_members(limit=1001)
    assert emulator.request_count("getOrganizationMembers") == 1


async def test_an_invitation_is_pending_and_stored_once(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """invite() gives the pending invitation with its hash; the ledger holds one write."""
    invitation = await yp.organization.invite("Ops@Example.com", "viewer")
    assert isinstance(invitation, Invitation)
    assert (invitation.email, invitation.role, invitation.status) == (
        "Ops@Example.com",
        "viewer",
        "pending",
    )
    assert invitation.hash
    assert invitation.created_at is not None
    assert emulator.written("inviteOrganizationMember", email="Ops@Example.com") == 1
    listed = await yp.organization.list_members()
    assert [i.hash for i in listed.invitations] == [invitation.hash]


@pytest.mark.parametrize(
    ("email", "role", "named"),
    [
        ("not-an-email", "viewer", "'not-an-email'"),
        ("a b@example.com", "viewer", "'a b@example.com'"),
        ("ops@example", "viewer", "'ops@example'"),
        (42, "viewer", "42"),
        ("ops@example.com", "admin", "'admin'"),
        ("ops@example.com", "operator", "'operator'"),
    ],
)
async def test_invite_checks_email_and_role_before_sending(
    yp: AsyncPlatformClient, emulator: Emulator, email: Any, role: Any, named: str
) -> None:
    """A malformed address or a role outside owner|editor|viewer|billing: refused, unsent."""
    with pytest.raises(ConfigurationError) as refused:
        await yp.organization.invite(email, role)
    assert named in str(refused.value)
    assert emulator.request_count() == 0


async def test_a_role_changes_and_the_creator_stays_owner(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """change_role sets the member's role; an unknown member is NotFoundError; the creator's
    role cannot be taken away."""
    ada = emulator.add_member("ada@example.com", role="viewer")
    await yp.organization.change_role(ada, "editor")
    assert [m.role for m in emulator.members if m.id == ada] == ["editor"]
    await yp.organization.change_role(ada, "editor")  # idempotent
    with pytest.raises(NotFoundError):
        await yp.organization.change_role(9999, "viewer")
    with pytest.raises(BadRequestError, match="creator"):
        await yp.organization.change_role(emulator.members[0].id, "viewer")
    for bad in (0, "71", True):
        with pytest.raises(ConfigurationError, match="member_id"):
            await yp.organization.change_role(bad, "viewer")  # type: ignore[arg-type]


async def test_a_member_is_removed_but_never_the_creator(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """remove_member removes; the organisation's creator is refused, saying why."""
    ada = emulator.add_member("ada@example.com")
    await yp.organization.remove_member(ada)
    assert [m.email for m in emulator.members] == ["owner@example.com"]
    with pytest.raises(BadRequestError) as refused:
        await yp.organization.remove_member(emulator.members[0].id)
    assert "creator cannot be removed" in str(refused.value)
    assert len(emulator.members) == 1
    with pytest.raises(NotFoundError):
        await yp.organization.remove_member(ada)


async def test_only_a_pending_invitation_is_revoked(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """A revoked invitation leaves the list; revoking it again is "Not found"; an accepted
    one is refused."""
    pending = emulator.add_invitation("new@example.com")
    accepted = emulator.add_invitation("ada@example.com")
    emulator.accept_invitation(accepted)
    await yp.organization.revoke_invitation(pending)
    assert (await yp.organization.list_members()).invitations == ()
    with pytest.raises(NotFoundError):
        await yp.organization.revoke_invitation(pending)
    with pytest.raises(BadRequestError, match="accepted"):
        await yp.organization.revoke_invitation(accepted)
    with pytest.raises(ConfigurationError, match="invitation_hash"):
        await yp.organization.revoke_invitation("  ")


@pytest.mark.parametrize("role", ["editor", "viewer"])
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda o: o.invite("ops@example.com", "viewer"), id="invite"),
        pytest.param(lambda o: o.change_role(71, "viewer"), id="change_role"),
        pytest.param(lambda o: o.remove_member(71), id="remove_member"),
        pytest.param(lambda o: o.revoke_invitation("inv_1"), id="revoke_invitation"),
    ],
)
async def test_changing_members_needs_an_owners_token(
    make_platform: PlatformFactory, emulator: Emulator, role: str, call: Any
) -> None:
    """An editor's or viewer's token is refused at once, and the error says only an owner's
    token may do it and what to do."""
    client = make_platform(token(emulator, f"api-v1-{role}", role=role))
    with pytest.raises(PermissionDeniedError) as refused:
        await call(client.organization)
    message = str(refused.value)
    assert "only an owner's token may do this" in message
    assert "Settings > API Tokens" in message
    assert refused.value.attempts == 1
    assert emulator.writes == []
    assert len(emulator.members) == 1
    assert (await client.organization.list_members()).total == 1  # reading is allowed


# -- left in doubt -------------------------------------------------------------------------


async def test_an_invitation_lost_after_sending_is_in_doubt_and_stored_once(
    yp: AsyncPlatformClient, emulator: Emulator
) -> None:
    """Without reconcile a dropped invite is DeliveryUnknownError, never resent, and the
    advice says where to look."""
    emulator.fault_plan.add("inviteOrganizationMember", Fault.drop_after())
    with pytest.raises(DeliveryUnknownError) as unknown:
        await yp.organization.invite("ops@example.com", "viewer")
    assert "list_members" in str(unknown.value)
    assert emulator.written("inviteOrganizationMember") == 1
    assert emulator.request_count("inviteOrganizationMember") == 1


async def test_reconcile_settles_a_dropped_invitation_to_exactly_one(
    yp: AsyncPlatformClient, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """With reconcile=True a dropped invite is found among the pending invitations by email
    and returned: one invitation, one request to send it."""
    emulator.add_invitation("someone.else@example.com")
    emulator.fault_plan.add("inviteOrganizationMember", Fault.drop_after())
    policy = RetryPolicy(reconcile=True, sleep=fake_clock.sleep, clock=fake_clock.clock)
    invitation = await yp.organization.invite("ops@example.com", "viewer", retry=policy)
    assert invitation.email == "ops@example.com"
    assert [i.email for i in emulator.invitations].count("ops@example.com") == 1
    assert emulator.written("inviteOrganizationMember") == 1
    assert emulator.request_count("inviteOrganizationMember") == 1
    assert invitation.hash == emulator.invitations[-1].hash


async def test_reconcile_sends_again_an_invitation_that_did_not_land(
    yp: AsyncPlatformClient, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """An invite answered 502 before it was stored is looked for, not found after the settle
    time, and sent again: exactly one invitation in the end."""
    emulator.fault_plan.add("inviteOrganizationMember", Fault.status(502))
    policy = RetryPolicy(reconcile=True, sleep=fake_clock.sleep, clock=fake_clock.clock)
    invitation = await yp.organization.invite("ops@example.com", "viewer", retry=policy)
    assert invitation.status == "pending"
    assert emulator.written("inviteOrganizationMember") == 1
    assert emulator.request_count("inviteOrganizationMember") == 2
    assert emulator.request_count("getOrganizationMembers") == 2  # before and after settling


@pytest.mark.parametrize("how", ["remove_member", "revoke_invitation"])
async def test_a_removal_retried_after_it_landed_counts_as_done(
    yp: AsyncPlatformClient, emulator: Emulator, how: str
) -> None:
    """The first attempt removes and is lost; the retry's "Not found" means it is done."""
    if how == "remove_member":
        target: Any = emulator.add_member("ada@example.com")
        emulator.fault_plan.add("removeOrganizationMember", Fault.drop_after())
        await yp.organization.remove_member(target)
        assert len(emulator.members) == 1
        endpoint = "removeOrganizationMember"
    else:
        target = emulator.add_invitation("ada@example.com")
        emulator.fault_plan.add("revokeOrganizationInvitation", Fault.drop_after())
        await yp.organization.revoke_invitation(target)
        assert [i.status for i in emulator.invitations] == ["revoked"]
        endpoint = "revokeOrganizationInvitation"
    assert emulator.request_count(endpoint) == 2
    assert emulator.written(endpoint) == 1


# -- the token's own failures --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "which", "advice"),
    [
        ("revoked", "Invalid or revoked API token", "mistyped or was revoked"),
        ("expired", "Invalid or expired API token", "has expired"),
        ("inactive", "Token creator is no longer a member", "has left the organisation"),
    ],
)
async def test_each_token_failure_says_which_and_what_to_do(
    make_platform: PlatformFactory, emulator: Emulator, status: str, which: str, advice: str
) -> None:
    """A revoked, expired or inactive token is an AuthenticationError, never retried, whose
    message says which it is and how to get a working one."""
    client = make_platform(token(emulator, f"api-v1-{status}-token", status=status))
    with pytest.raises(AuthenticationError) as refused:
        await client.organization.get()
    message = str(refused.value)
    assert which in message
    assert advice in message
    assert "Settings > API Tokens" in message
    assert refused.value.attempts == 1
    assert f"api-v1-{status}-token" not in message


async def test_an_unknown_token_reads_as_revoked(
    make_platform: PlatformFactory, emulator: Emulator
) -> None:
    """A token the organisation does not have is refused as invalid or revoked."""
    with pytest.raises(AuthenticationError, match="revoked"):
        await make_platform("api-v1-nobody").organization.list_members()


# -- the wire ------------------------------------------------------------------------------


async def test_the_organisation_is_read_with_the_bearer_token_and_an_empty_body(
    wire: AsyncPlatformClient, server: HostileServer
) -> None:
    """getOrganizationDetail: its path, ``Authorization: Bearer``, no api-key, ``{}``; the
    sample decodes with its creator, members and projects."""
    server.reply = sample("getOrganizationDetail.json")
    detail = await wire.organization.get()
    request = server.requests[0]
    assert request.path == "/chatbot/v1/getOrganizationDetail"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert request.body == {}
    assert (detail.id, detail.name, detail.created_by) == (31, "Acme", 12)
    assert (detail.creator_name, detail.creator_email) == ("Grace Hopper", "grace@example.com")
    assert [(m.id, m.user_id, m.role) for m in detail.members] == [(71, 12, "owner")]
    assert [p.project_uid for p in detail.projects] == ["a1b2c3d4-e5f6-7890-abcd-ef1234567890"]


async def test_the_members_sample_is_a_page_of_members_and_invitations(
    wire: AsyncPlatformClient, server: HostileServer
) -> None:
    """getOrganizationMembers sends page and limit; data is an object holding both lists,
    and total sits beside it."""
    server.reply = sample("getOrganizationMembers.json")
    page = await wire.organization.list_members(page=1, limit=500)
    assert server.requests[0].path == "/chatbot/v1/getOrganizationMembers"
    assert server.requests[0].body == {"page": 1, "limit": 500}
    assert (page.total, page.has_more) == (1, False)
    assert [(m.id, m.name, m.email, m.role) for m in page] == [
        (71, "Grace Hopper", "grace@example.com", "owner")
    ]
    assert [(i.id, i.hash, i.email, i.sent_by) for i in page.invitations] == [
        (9, "inv_3f9a1c", "new@example.com", 12)
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            envelope({"organizationMember": [{"id": 1, "role": "owner"}]}),
            ([1], [], None),
            id="no invitations, no total",
        ),
        pytest.param(
            envelope({"organizationMember": [], "invitations": [{"hash": "h"}], "count": 0}),
            ([], ["h"], 0),
            id="count inside",
        ),
        pytest.param(
            envelope([{"id": 1}, {"id": 2}], total=2), ([1, 2], [], 2), id="data a plain list"
        ),
        pytest.param(
            envelope({"organizationMember": None, "invitations": None}),
            ([], [], None),
            id="nulls",
        ),
    ],
)
async def test_member_pages_decode_each_shape(
    wire: AsyncPlatformClient,
    server: HostileServer,
    reply: bytes,
    expected: tuple[list[int], list[str], int | None],
) -> None:
    """However the members list comes, it is a MemberPage (invitations empty when absent)."""
    server.reply = reply
    page = await wire.organization.list_members()
    assert isinstance(page, MemberPage)
    assert ([m.id for m in page], [i.hash for i in page.invitations], page.total) == expected


@pytest.mark.parametrize(
    "data",
    [{"members": []}, "members", {"organizationMember": [], "invitations": "x"}],
    ids=["no member list", "a string", "invitations not a list"],
)
async def test_a_members_reply_of_another_shape_is_unexpected(
    wire: AsyncPlatformClient, server: HostileServer, data: object
) -> None:
    """A reply with no list of members where one must be is an UnexpectedResponseError."""
    server.reply = envelope(data)
    with pytest.raises(UnexpectedResponseError):
        await wire.organization.list_members()


async def test_an_invitation_sends_email_and_role(
    wire: AsyncPlatformClient, server: HostileServer
) -> None:
    """inviteOrganizationMember: exactly email and role (trimmed, the role lower case); the
    sample decodes to a pending Invitation."""
    server.reply = sample("inviteOrganizationMember.json")
    invitation = await wire.organization.invite(" ops@example.com ", "Viewer")  # type: ignore[arg-type]
    request = server.requests[0]
    assert request.path == "/chatbot/v1/inviteOrganizationMember"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in request.headers
    assert request.body == {"email": "ops@example.com", "role": "viewer"}
    assert (invitation.id, invitation.hash, invitation.status) == (10, "inv_77b2e0", "pending")


CHANGES = [
    pytest.param(
        (
            lambda o: o.change_role(71, "billing"),
            "changeOrganizationMemberRole",
            {"member_id": 71, "role": "billing"},
        ),
        id="change_role",
    ),
    pytest.param(
        (lambda o: o.remove_member(71), "removeOrganizationMember", {"member_id": 71}),
        id="remove_member",
    ),
    pytest.param(
        (
            lambda o: o.revoke_invitation("inv_3f9a1c"),
            "revokeOrganizationInvitation",
            {"hash": "inv_3f9a1c"},
        ),
        id="revoke_invitation",
    ),
]


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("data", [None, {}, {"id": 71}], ids=["no data", "empty", "an object"])
async def test_member_changes_send_their_fields_and_return_nothing(
    wire: AsyncPlatformClient, server: HostileServer, change: Any, data: object
) -> None:
    """Each change sends exactly its fields under the Bearer token; whatever data the reply
    has, the result is None."""
    call, endpoint, body = change
    server.reply = envelope(data)
    assert await call(wire.organization) is None
    request = server.requests[0]
    assert request.path == f"/chatbot/v1/{endpoint}"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in request.headers
    assert request.body == body


async def test_a_token_echoed_in_an_error_is_never_repeated(
    wire: AsyncPlatformClient, server: HostileServer
) -> None:
    """A 401 that quotes the token: the error and all it reaches carry none of it."""
    server.reply = http(
        {"type": "RXERROR", "message": f"Invalid or revoked API token {TOKEN}"}, status=401
    )
    with pytest.raises(AuthenticationError) as refused:
        await wire.organization.get()
    assert leaks(refused.value, TOKEN) == []


async def test_raw_responses_reach_the_organisation(yp: AsyncPlatformClient) -> None:
    """``with_raw_response.organization`` gives each call's status and request id."""
    raw = await yp.with_raw_response.organization.list_members()
    assert raw.status == 200
    assert raw.request_id
    assert isinstance(raw.parse(), MemberPage)


def test_the_samples_invitations_decode_strictly() -> None:
    """Every field of the members sample's invitations is one Invitation names."""
    data = json.loads((SAMPLES / "getOrganizationMembers.json").read_text())["data"]
    strict = make_converter(strict=True)
    decoded = [strict.structure(item, Invitation) for item in data["invitations"]]
    assert [(i.email, i.role, i.status) for i in decoded] == [
        ("new@example.com", "editor", "pending")
    ]

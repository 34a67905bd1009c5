"""One valid call of every declared endpoint, for the tests parametrized over the registry.

:class:`Clients` holds an ``AsyncClient`` (a project's key) and an ``AsyncPlatformClient`` (an
organisation's token) bound to one emulator, with what the calls need made beforehand (a
session, a project). :data:`CALLS` has one call per (family, endpoint) the registry declares,
and :func:`stored` counts what the emulator stored of a write, for "exactly once" checks.
``tests/test_registry.py`` fails when an endpoint is declared without its entry here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from yourgpt_async import AsyncClient, AsyncPlatformClient, RateLimit, RetryPolicy
from yourgpt_async._endpoints import Family
from yourgpt_async.platform import ProjectView
from yourgpt_async.testing import Emulator


class Clients:
    """A client of each family on one emulator, and what their calls refer to."""

    def __init__(self, emulator: Emulator, retry: RetryPolicy, rate_limit: RateLimit) -> None:
        self.emulator = emulator
        self.project = AsyncClient(
            emulator.api_key,
            widget_uid=emulator.widget_uid,
            base_url=emulator.base_url,
            retry=retry,
            rate_limit=rate_limit,
        )
        self.platform = AsyncPlatformClient(
            emulator.api_token, base_url=emulator.base_url, retry=retry, rate_limit=rate_limit
        )
        self.session_uid = ""
        self.project_uid = emulator.project_uid
        self.file_id = 0
        self.playground_uid = ""
        self.member_id = 0
        self.invitation_hash = ""
        self.contact_id = self.company_id = self.list_id = 0

    async def setup(self) -> None:
        """Make what the calls need (then the test resets the emulator's bookkeeping)."""
        self.session_uid = (await self.project.create_session()).session_uid
        self.emulator.add_document("Shipping to Norway takes 3 to 5 days.")
        self.file_id = self.emulator.add_training_file("old-handbook.pdf")
        playground = self.platform.project(self.project_uid).playground
        self.playground_uid = (await playground.create_session()).session_uid
        self.member_id = self.emulator.add_member("ada@example.com")
        self.invitation_hash = self.emulator.add_invitation("grace@example.com")
        self.company_id = self.emulator.add_company("Analytical Engines Ltd")
        self.contact_id = self.emulator.add_contact("Ada Lovelace", tags=["vip"])
        bot = self.platform.project(self.project_uid)
        self.list_id = (await bot.contact_lists.create("VIP", {"tags": "vip"})).id or 0

    @property
    def bot(self) -> ProjectView:
        """The project view the project-bound calls use."""
        return self.platform.project(self.project_uid)

    async def aclose(self) -> None:
        await self.project.aclose()
        await self.platform.aclose()

    def call(self, family: Family, endpoint: str) -> Callable[[], Awaitable[object]]:
        """One valid call of ``endpoint`` with the credential of ``family``."""
        return lambda: CALLS[family, endpoint](self)


Call = Callable[[Clients], Awaitable[Any]]

CALLS: dict[tuple[Family, str], Call] = {
    # -- the Project Integration API --
    (Family.PROJECT, "createSession"): lambda c: c.project.create_session(),
    (Family.PROJECT, "sendMessage"): lambda c: c.project.send_message(c.session_uid, "hello"),
    (Family.PROJECT, "updateSession"): lambda c: c.project.update_session(
        c.session_uid, segment="vip"
    ),
    (Family.PROJECT, "getSessions"): lambda c: c.project.get_sessions(),
    (Family.PROJECT, "getSessionMessages"): lambda c: c.project.get_session_messages(c.session_uid),
    (Family.PROJECT, "getChatbotExecutionLogs"): lambda c: c.project.get_execution_logs(),
    (Family.PROJECT, "searchIndexDocument"): lambda c: c.project.search_knowledgebase("Norway"),
    (Family.PROJECT, "makeOutboundCall"): lambda c: c.project.make_outbound_call(
        "agent-1", "+4915112345678"
    ),
    # -- the Platform API --
    (Family.PLATFORM, "getMyProjects"): lambda c: c.platform.projects.list(),
    (Family.PLATFORM, "createChatbot"): lambda c: c.platform.projects.create("Sales bot"),
    (Family.PLATFORM, "updateChatbot"): lambda c: c.platform.projects.update(
        c.project_uid, name="Renamed"
    ),
    (Family.PLATFORM, "updateProjectSettings"): lambda c: c.platform.projects.update_settings(
        c.project_uid, temperature=0.5
    ),
    (Family.PLATFORM, "getSupportedModels"): lambda c: c.platform.models.list(),
    (Family.PLATFORM, "createProjectText"): lambda c: c.bot.training.add_faq(
        "Do you ship to Norway?", "Yes, in 3-5 days."
    ),
    (Family.PLATFORM, "getProjectText"): lambda c: c.bot.training.list_texts("faq"),
    (Family.PLATFORM, "uploadFile"): lambda c: c.bot.training.upload_file(
        "https://example.com/handbook.pdf"
    ),
    (Family.PLATFORM, "getProjectFiles"): lambda c: c.bot.training.list_files(),
    (Family.PLATFORM, "deleteFile"): lambda c: c.bot.training.delete_file(c.file_id),
    (Family.PLATFORM, "createPlaygroundAgentSession"): lambda c: c.bot.playground.create_session(),
    (Family.PLATFORM, "playgroundAgentResponse"): lambda c: c.bot.playground.respond(
        c.playground_uid, "What is your return policy?"
    ),
    (Family.PLATFORM, "createSession"): lambda c: c.platform.project(
        c.project_uid
    ).sessions.create(),
    (Family.PLATFORM, "sendMessage"): lambda c: c.platform.project(
        c.project_uid
    ).sessions.send_message(c.session_uid, "hello"),
    (Family.PLATFORM, "updateSession"): lambda c: c.platform.project(c.project_uid).sessions.update(
        c.session_uid, segment="vip"
    ),
    (Family.PLATFORM, "getSessions"): lambda c: c.platform.project(c.project_uid).sessions.list(),
    (Family.PLATFORM, "getChatbotExecutionLogs"): lambda c: c.platform.project(
        c.project_uid
    ).execution_logs.list(),
    (Family.PLATFORM, "searchIndexDocument"): lambda c: c.platform.project(
        c.project_uid
    ).knowledgebase.search("Norway"),
    (Family.PLATFORM, "getOrganizationDetail"): lambda c: c.platform.organization.get(),
    (Family.PLATFORM, "getOrganizationMembers"): lambda c: c.platform.organization.list_members(),
    (Family.PLATFORM, "inviteOrganizationMember"): lambda c: c.platform.organization.invite(
        "new@example.com", "viewer"
    ),
    (Family.PLATFORM, "changeOrganizationMemberRole"): lambda c: (
        c.platform.organization.change_role(c.member_id, "viewer")
    ),
    (Family.PLATFORM, "removeOrganizationMember"): lambda c: c.platform.organization.remove_member(
        c.member_id
    ),
    (Family.PLATFORM, "revokeOrganizationInvitation"): lambda c: (
        c.platform.organization.revoke_invitation(c.invitation_hash)
    ),
    (Family.PLATFORM, "getAllContacts"): lambda c: c.platform.project(c.project_uid).contacts.list(
        type="LEADS"
    ),
    (Family.PLATFORM, "getContactDetail"): lambda c: c.platform.project(c.project_uid).contacts.get(
        c.contact_id
    ),
    (Family.PLATFORM, "linkContactToCompany"): lambda c: c.platform.project(
        c.project_uid
    ).contacts.link_company(c.contact_id, c.company_id),
    (Family.PLATFORM, "linkContactTags"): lambda c: c.platform.project(
        c.project_uid
    ).contacts.link_tags(c.contact_id, ["vip"]),
    (Family.PLATFORM, "createContactList"): lambda c: c.platform.project(
        c.project_uid
    ).contact_lists.create("Leads", {"type": "LEADS"}),
    (Family.PLATFORM, "updateContactList"): lambda c: c.platform.project(
        c.project_uid
    ).contact_lists.update(c.list_id, name="VIP leads"),
    (Family.PLATFORM, "deleteContactList"): lambda c: c.platform.project(
        c.project_uid
    ).contact_lists.delete(c.list_id),
    (Family.PLATFORM, "getContactCompanyDetails"): lambda c: c.platform.project(
        c.project_uid
    ).companies.get(c.company_id),
    (Family.PLATFORM, "deleteContactCompany"): lambda c: c.platform.project(
        c.project_uid
    ).companies.delete(c.company_id),
    (Family.PLATFORM, "getAllContactTags"): lambda c: c.platform.project(c.project_uid).tags.list(),
    (Family.PLATFORM, "createContactTag"): lambda c: c.platform.project(c.project_uid).tags.create(
        "churn-risk"
    ),
}


def stored(emulator: Emulator, family: Family, endpoint: str) -> int | None:
    """How many of ``endpoint``'s writes the emulator stored since its last reset; ``None``
    for an endpoint whose repeat does no harm (a read, an update, a delete)."""
    if (family, endpoint) == (Family.PROJECT, "sendMessage"):
        return len(emulator.ledger)
    if (family, endpoint) == (Family.PROJECT, "makeOutboundCall"):
        return len(emulator.calls)
    if (family, endpoint) == (Family.PROJECT, "createSession"):
        return None  # a second session is harmless, and not in a ledger
    writes = [write for write in emulator.writes if write.endpoint == endpoint]
    return len(writes) if writes or _creates(endpoint) else None


def _creates(endpoint: str) -> bool:
    from yourgpt_async._endpoints import Safety, registry

    return registry()[endpoint].safety in (Safety.CREATE, Safety.CALL)

"""What a test seeds the emulated service with and reads back of it: its keys, tokens and
limits, documents and plans, training, contacts and members, and the ledgers of outbound calls
and of the Platform API's writes. :class:`Seeding` is the base of
:class:`~yourgpt_async.testing.Emulator`, which owns the parts it reads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from ._platform import Limits, Platform, ProjectRecord, Token, Write
from ._platform_contacts import ContactBook
from ._platform_org import InvitationRecord, MemberRecord, Members
from ._platform_training import PlatformTraining, joined
from ._state import CallRecord, Plan, State

__all__ = ["Seeding"]


class Seeding:
    """The emulator's data, as a test seeds and reads it (the base of ``Emulator``)."""

    _state: State
    _platform: Platform
    _training: PlatformTraining
    _members: Members
    _contacts: ContactBook

    @property
    def api_key(self) -> str:
        """The first configured API key (``DEFAULT_API_KEY`` by default)."""
        return next(iter(self._state.api_keys))

    @property
    def widget_uid(self) -> str:
        """The first widget of ``api_key``'s project (or the first widget of all, if none)."""
        project = self._state.api_keys[self.api_key]
        owned = (uid for uid, owner in self._state.widgets.items() if owner == project)
        return next(owned, next(iter(self._state.widgets)))

    @property
    def api_token(self) -> str:
        """The first configured organisation token (``DEFAULT_API_TOKEN`` by default)."""
        return next(iter(self._platform.tokens))

    @property
    def tokens(self) -> dict[str, Token]:
        """The organisation's tokens by secret; add, change or revoke them at any time."""
        return self._platform.tokens

    @property
    def limits(self) -> Limits:
        """The organisation's plan limits (change them at any time)."""
        return self._platform.limits

    @property
    def projects(self) -> list[ProjectRecord]:
        """The organisation's projects, as the Platform API knows them (``project_uid``...)."""
        return list(self._platform.projects.values())

    @property
    def project_uid(self) -> str:
        """The ``project_uid`` of ``api_key``'s project (the one ``widget_uid`` belongs to)."""
        project = self._project
        return next(r.project_uid for r in self._platform.projects.values() if r.project == project)

    @property
    def writes(self) -> list[Write]:
        """Every write the Platform API accepted, in order (the ledger for "exactly once")."""
        return self._platform.writes

    def written(self, endpoint: str, **fields: object) -> int:
        """Count the accepted writes of ``endpoint`` whose fields include ``fields``.

        Args:
            endpoint: The endpoint, e.g. ``"createProjectText"``.
            fields: Values the write must have stored (``short_text="Do you ship?"``).
        """
        return sum(
            1
            for write in self._platform.writes
            if write.endpoint == endpoint
            and all(write.fields.get(name) == value for name, value in fields.items())
        )

    @property
    def calls(self) -> list[CallRecord]:
        """Every outbound call makeOutboundCall accepted, in order (the ledger of calls)."""
        return self._state.calls

    def add_document(self, text: str, *, project: str | None = None) -> int:
        """Train a project's bot on ``text``, for knowledge-base search to find.

        Each paragraph (text between blank lines) becomes one chunk.

        Args:
            text: The document's text.
            project: The project (default: ``api_key``'s).

        Returns:
            The document's id (a hit's ``doc_id``, and what ``node_id`` takes).
        """
        return self._state.add_document(project or self._project, text).doc_id

    def add_training_text(
        self,
        detail: str,
        *,
        short_text: str | None = None,
        type: Literal["text", "faq"] = "text",
        tags: str | Iterable[str] = (),
        project_uid: str | None = None,
    ) -> int:
        """Train a project's bot on a text or an FAQ, as createProjectText would (without the
        plan's limit, and not in ``writes``).

        Args:
            detail: The text, or the FAQ's answer.
            short_text: The text's title, or the FAQ's question.
            type: ``"text"`` or ``"faq"``.
            tags: Its tags: names, or one comma-separated ``str``.
            project_uid: The project (default: ``project_uid``).

        Returns:
            The text's id.

        Raises:
            ValueError: An unknown project.
        """
        project = self._platform.projects[self._project_uid_of(project_uid)]
        return self._training.add_text(project, type, detail, short_text, joined(tags)).id

    def add_training_file(
        self,
        name: str,
        *,
        status: str | None = "done",
        tags: str | Iterable[str] = (),
        project_uid: str | None = None,
    ) -> int:
        """Add a training file to a project, as uploadFile would (without the plan's limit,
        and not in ``writes``).

        Args:
            name: The file's name (``"handbook.pdf"``).
            status: The status it keeps (``"done"``, ``"failed"``...); ``None`` to process it
                as an upload is, for ``FILE_PROCESSING_SECONDS`` of the emulator's clock.
            tags: Its tags: names, or one comma-separated ``str``.
            project_uid: The project (default: ``project_uid``).

        Returns:
            The file's id (what deleteFile takes).

        Raises:
            ValueError: An unknown project.
        """
        project = self._platform.projects[self._project_uid_of(project_uid)]
        return self._training.add_file(project, name, joined(tags), None, status).id

    def add_contact(
        self,
        name: str | None = None,
        *,
        email: str | None = None,
        phone: str | None = None,
        type: str = "LEADS",
        tags: Iterable[str] = (),
        company_id: int | None = None,
        created_at: datetime | None = None,
        project_uid: str | None = None,
    ) -> int:
        """Add a contact to a project, for the Platform API's contact endpoints to find.

        The service's API cannot create contacts (its bot collects them); this is how a test
        gets some. Tags the project does not have yet are created with it.

        Args:
            name: The contact's name.
            email: Their email address.
            phone: Their phone number.
            type: ``"USERS"``, ``"LEADS"`` or ``"SPAM"``.
            tags: The names of its tags.
            company_id: A company of the project (from :meth:`add_company`) to link it to.
            created_at: When it was created (default: now), for the date filters.
            project_uid: The project (default: :attr:`project_uid`).

        Returns:
            The contact's id.

        Raises:
            ValueError: An unknown project, ``type`` or company.
        """
        return self._contacts.add_contact(
            self._project_uid_of(project_uid),
            name=name,
            email=email,
            phone=phone,
            type=type,
            tags=tags,
            company_id=company_id,
            created_at=created_at,
        ).id

    def add_company(
        self, name: str, *, website: str | None = None, project_uid: str | None = None
    ) -> int:
        """Add a company to a project, for contacts to be linked to.

        Args:
            name: The company's name.
            website: Its website.
            project_uid: The project (default: :attr:`project_uid`).

        Returns:
            The company's id.

        Raises:
            ValueError: An unknown project.
        """
        return self._contacts.add_company(
            self._project_uid_of(project_uid), name, website=website
        ).id

    def _project_uid_of(self, project_uid: str | None) -> str:
        uid = self.project_uid if project_uid is None else project_uid
        if uid not in self._platform.projects:
            raise ValueError(f"no project with project_uid {uid!r}")
        return uid

    def set_plan(self, *, project: str | None = None, knowledgebase: bool = True) -> None:
        """Change what a project's plan allows.

        Args:
            project: The project (default: ``api_key``'s).
            knowledgebase: Whether knowledge-base search is included (without it the endpoint
                answers 403, as the service does below the Professional plan).
        """
        self._state.plans[project or self._project] = Plan(knowledgebase=knowledgebase)

    @property
    def members(self) -> list[MemberRecord]:
        """The organisation's members, its creator (an owner, never removable) first."""
        return self._members.members

    @property
    def invitations(self) -> list[InvitationRecord]:
        """Every invitation the organisation sent, in order, whatever its status."""
        return self._members.invitations

    def add_member(self, email: str, *, name: str | None = None, role: str = "editor") -> int:
        """Make someone a member of the organisation, as if they had accepted an invitation.

        Args:
            email: Their email address.
            name: Their name (default: the part of ``email`` before the ``@``).
            role: ``"owner"``, ``"editor"``, ``"viewer"`` or ``"billing"``.

        Returns:
            The membership's id (what ``change_role`` and ``remove_member`` take).

        Raises:
            ValueError: An unknown role.
        """
        return self._members.add(email, name=name, role=role).id

    def add_invitation(self, email: str, *, role: str = "editor") -> str:
        """Have the organisation invite someone (no ledger entry: it is the test's setup).

        Args:
            email: Who is invited.
            role: The role offered: ``"owner"``, ``"editor"``, ``"viewer"`` or ``"billing"``.

        Returns:
            The invitation's ``hash`` (what ``revoke_invitation`` takes).

        Raises:
            ValueError: An unknown role.
        """
        return self._members.invite(email, role).hash

    def accept_invitation(self, invitation_hash: str) -> int:
        """Accept a pending invitation for its invitee, who becomes a member.

        Returns:
            The new membership's id.

        Raises:
            ValueError: No pending invitation has that hash.
        """
        return self._members.accept(invitation_hash).id

    @property
    def _project(self) -> str:
        return self._state.api_keys[self.api_key]

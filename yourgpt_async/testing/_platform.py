"""The organisation behind the emulated Platform API: its tokens (role, project scope,
permissions, whether still valid), its projects, its plan's limits, and who may do what.

A request with ``Authorization: Bearer <token>`` is made by a :class:`TokenCaller`; each handler
asks it for the project named by ``project_uid`` and for the permission its endpoint declares
(``Endpoint.permission``, the same text the SDK's errors quote), and it refuses as the service
words it: "Not found", "You do not have permission to perform this action".
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from .._endpoints import Endpoint, Family
from ._params import Params, RequestError, required
from ._state import State, iso, now

__all__ = [
    "DEFAULT_API_TOKEN",
    "NO_PERMISSION",
    "QUOTA_REACHED",
    "Limits",
    "Platform",
    "ProjectRecord",
    "Token",
    "TokenCaller",
    "Write",
]

DEFAULT_API_TOKEN: Final = "api-v1-emulator-token"
"""The organisation token an :class:`Emulator` accepts by default: an owner's, for all projects."""

NO_PERMISSION: Final = "You do not have permission to perform this action"
QUOTA_REACHED: Final = "You have already reached the limit."
_REFUSALS: Final = {
    "revoked": "Invalid or revoked API token",
    "expired": "Invalid or expired API token",
    "inactive": "API token is inactive. Token creator is no longer a member of the organization.",
}
_ROLES: Final = ("owner", "editor", "viewer", "operator", "trainer", "billing")
# What each role may do without fine-grained permissions: module -> actions ("*" = every module).
_ROLE_RIGHTS: Final[dict[str, dict[str, frozenset[str]]]] = {
    "owner": {"*": frozenset({"Read", "Write"})},
    "editor": {"*": frozenset({"Read", "Write"})},
    "viewer": {"*": frozenset({"Read"})},
    "operator": {"Conversation": frozenset({"Read", "Write"}), "Contacts": frozenset({"Read"})},
    "trainer": {"Training": frozenset({"Read", "Write"}), "Debugging": frozenset({"Read"})},
    "billing": {},
}
_OWNER_ONLY: Final = "Owner"


@attrs.define
class Token:
    """An organisation's API token, as the emulator knows it.

    Attributes:
        secret: The token itself (``api-v1-...``).
        role: ``owner``, ``editor``, ``viewer``, ``operator``, ``trainer`` or ``billing``.
        projects: The ``project_uid``s it may reach; ``None`` for every project.
        permissions: Fine-grained permissions, module to actions (``{"Training": {"Read",
            "Write"}}``); when set, they replace the role's for every module but owner-only
            endpoints.
        status: ``active``; or ``revoked``, ``expired`` or ``inactive`` (its creator left),
            each refused with the service's own 401 message.
    """

    secret: str
    role: str = "owner"
    projects: frozenset[str] | None = None
    permissions: Mapping[str, frozenset[str]] | None = None
    status: Literal["active", "revoked", "expired", "inactive"] = "active"

    def __attrs_post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"role must be one of {', '.join(_ROLES)}, got {self.role!r}")
        if self.status != "active" and self.status not in _REFUSALS:
            raise ValueError(f"unknown token status {self.status!r}")

    def may(self, permission: str | None) -> bool:
        """Whether the token may call an endpoint that declares ``permission``."""
        if permission is None:
            return True
        if permission == _OWNER_ONLY:
            return self.role == "owner"
        module, _, action = (part.strip() for part in permission.partition("›"))
        rights = _ROLE_RIGHTS[self.role]
        if self.permissions is not None and self.role not in ("owner", "editor"):
            rights = {key: frozenset(value) for key, value in self.permissions.items()}
        allowed = rights.get(module, rights.get("*", frozenset()))
        return action in allowed or (action == "Read" and "Write" in allowed)


@attrs.define
class Limits:
    """The organisation's plan limits; ``None`` is unlimited. Past one, creates are refused
    with "You have already reached the limit." (whatever is still free stays usable).

    Attributes:
        projects: Most projects.
        texts: Most training texts and FAQs per project.
        files: Most training files per project.
        credits: Playground credits left (each answer spends some).
    """

    projects: int | None = None
    texts: int | None = None
    files: int | None = None
    credits: float | None = 1000.0


@attrs.define
class ProjectRecord:
    """A project as the Platform API shows it, over the emulator's project id."""

    project: str
    id: int
    project_uid: str
    name: str
    widget_uid: str
    created_at: datetime
    updated_at: datetime
    retention: int = 0
    settings: dict[str, Any] = attrs.Factory(dict)

    def item(self, organization_id: int, role: str) -> dict[str, object]:
        """The project as getMyProjects lists it."""
        return {
            "id": self.id,
            "organization_id": organization_id,
            "name": self.name,
            "app_id": 5,
            "project_uid": self.project_uid,
            "purpose": "support",
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "organization": {"id": organization_id, "name": Platform.ORGANIZATION, "role": role},
            "ProjectMembers": [{"user_id": Platform.OWNER_ID, "role": "owner"}],
            "integration_setting": {
                "id": 900 + self.id,
                "project_id": self.id,
                "widget_uid": self.widget_uid,
            },
        }


@attrs.frozen
class Write:
    """A write the Platform API accepted (the emulator's ledger, for "exactly once" checks).

    Attributes:
        endpoint: The endpoint (``"createProjectText"``).
        project_uid: The project it was made in, or ``None`` for an organisation's write.
        fields: What it stored that tells it apart (a text's ``short_text``, a tag's ``name``).
    """

    endpoint: str
    project_uid: str | None
    fields: Mapping[str, object]


class Platform:
    """The organisation: its tokens, projects, limits and ledger of writes."""

    ORGANIZATION: Final = "Emulated organisation"
    ORGANIZATION_ID: Final = 31
    OWNER_ID: Final = 12

    def __init__(self, state: State, tokens: Mapping[str, Token] | None) -> None:
        self._state = state
        self.tokens = dict(tokens or {DEFAULT_API_TOKEN: Token(DEFAULT_API_TOKEN)})
        self.limits = Limits()
        self.writes: list[Write] = []
        self._uids = (str(uuid.UUID(int=0xA1B2C3D4 << 96 | n)) for n in itertools.count(1))
        self.projects: dict[str, ProjectRecord] = {}
        for project, number in state.project_ids.items():
            widget = next(w for w, owner in state.widgets.items() if owner == project)
            self._add(project, number, f"Project {number}", widget)

    def _add(self, project: str, number: int, name: str, widget_uid: str) -> ProjectRecord:
        moment = now()
        record = ProjectRecord(project, number, next(self._uids), name, widget_uid, moment, moment)
        self.projects[record.project_uid] = record
        return record

    def create_project(self, name: str) -> ProjectRecord:
        """A new project, with a widget of its own."""
        number = len(self._state.project_ids) + 1
        project = f"project-{number}"
        widget = str(uuid.UUID(int=0xC0FFEE << 104 | number))
        self._state.project_ids[project] = number
        self._state.widgets[widget] = project
        return self._add(project, number, name, widget)

    def record(self, endpoint: Endpoint[Any], project_uid: str | None, **fields: object) -> None:
        """Note an accepted write in the ledger."""
        self.writes.append(Write(endpoint.name, project_uid, fields))

    def caller(self, secret: str) -> TokenCaller | str:
        """The caller for a bearer token, or the service's 401 message refusing it."""
        token = self.tokens.get(secret)
        if token is None:
            return _REFUSALS["revoked"]
        if token.status != "active":
            return _REFUSALS[token.status]
        return TokenCaller(token, self)


@attrs.frozen
class TokenCaller:
    """A request made with an organisation's token: what it may reach and do."""

    token: Token
    platform: Platform

    @property
    def family(self) -> Family:
        """The API the credential calls."""
        return Family.PLATFORM

    @property
    def bucket(self) -> str:
        """The rate limit's bucket: one per credential."""
        return self.token.secret

    def require(self, endpoint: Endpoint[Any]) -> None:
        """Refuse, as the service does, a token without the permission ``endpoint`` needs."""
        if not self.token.may(endpoint.permission):
            raise RequestError(403, NO_PERMISSION)

    def reaches(self, record: ProjectRecord) -> bool:
        """Whether the token's project scope includes ``record``."""
        scope = self.token.projects
        return scope is None or record.project_uid in scope

    def project(self, params: Params, endpoint: Endpoint[Any]) -> ProjectRecord:
        """The project ``params`` names by ``project_uid``, once the token may act on it.

        Raises:
            RequestError: No ``project_uid`` (400), no such project (404 "Not found"), one
                outside the token's scope or no permission for ``endpoint`` (403).
        """
        uid = required(params, "project_uid")
        record = self.platform.projects.get(uid)
        if record is None:
            raise RequestError(404, "Not found")
        if not self.reaches(record):
            raise RequestError(403, NO_PERMISSION)
        self.require(endpoint)
        return record

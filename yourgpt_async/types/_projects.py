"""Projects (chatbots) of an organisation, and the AI models they can run on."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import raw_field

__all__ = ["Project", "ProjectMember", "SupportedModel"]


@attrs.frozen(kw_only=True)
class ProjectMember:
    """A member of the organisation with a role in one project.

    Attributes:
        user_id: The member's user id.
        role: Their role in the project (``"owner"``, ``"editor"``, ...).
    """

    user_id: int | None = None
    role: str | None = None


@attrs.frozen(kw_only=True)
class Project:
    """A project: one chatbot of the organisation, with its own API key, widget and training.

    Attributes:
        id: The numeric id.
        project_uid: The id every Platform API call about it takes (``yp.project(uid)``).
        name: Its name.
        widget_uid: Its widget's id: what the Project Integration API's ``AsyncClient`` needs
            as ``widget_uid``.
        organization_id: The organisation it belongs to.
        role: The token holder's role in the organisation, as the listing says.
        purpose: What it is for (``"support"``, ...), when set.
        app_id: The service's app id.
        created_by: The user who created it.
        members: The members with a role in it.
        created_at: When it was created (aware, UTC).
        updated_at: When it last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    project_uid: str = ""
    name: str = ""
    widget_uid: str | None = None
    organization_id: int | None = None
    role: str | None = None
    purpose: str | None = None
    app_id: int | None = None
    created_by: int | None = None
    members: tuple[ProjectMember, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class SupportedModel:
    """An AI model a project can run on (``update_settings(model=...)`` takes its ``value``).

    Attributes:
        value: What to pass as ``model``.
        label: Its name for people.
        raw: The decoded dict, with any field this model does not name.
    """

    value: str = ""
    label: str | None = None
    raw: Mapping[str, Any] = raw_field()

"""What the bot did and what it knows: execution logs and knowledge-base search results."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import raw_field

__all__ = ["ExecutionLog", "KnowledgebaseHit"]


@attrs.frozen(kw_only=True)
class ExecutionLog:
    """One thing the bot did during a conversation: an action it ran, a flow it started.

    The service nests most of this (``data.task``, ``executionlog_session_data.session_uid``);
    the model lifts it to the top.

    Attributes:
        id: The log entry's id.
        project_id: The project's numeric id.
        session_id: The numeric id of the session (not its ``session_uid``).
        session_uid: The session's uid, always the exact ``str``.
        task: What kind of work it was (``"api_call"``, ``"flow"``, ...).
        type: The entry's type (``"action"``, ``"flow_started"``, ...).
        message: What happened, in words.
        details: The task's own data (``data.data``), as the service sends it.
        created_at: When it happened (aware, UTC).
        updated_at: When the entry last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    project_id: int | None = None
    session_id: int | None = None
    session_uid: str | None = None
    task: str | None = None
    type: str | None = None
    message: str | None = None
    details: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class KnowledgebaseHit:
    """One chunk of what the bot was trained on, matching a knowledge-base search.

    Attributes:
        score: How well it matches, higher is better (the service's own measure).
        content: The chunk's text.
        doc_id: The document it comes from, as an exact ``str`` (pass it as ``node_id`` to
            search that document alone).
        point_id: The chunk's own id.
        raw: The decoded dict, with any field this model does not name.
    """

    score: float | None = None
    content: str = ""
    doc_id: str | None = None
    point_id: str | None = None
    raw: Mapping[str, Any] = raw_field()

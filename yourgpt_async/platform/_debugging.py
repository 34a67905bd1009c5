"""Knowledge-base search and execution logs of one project (``.knowledgebase``,
``.execution_logs``)."""

from __future__ import annotations

from ._base import ProjectResource

__all__ = ["ExecutionLogs", "Knowledgebase"]


class Knowledgebase(ProjectResource):
    """``project.knowledgebase``: search what the bot was trained on."""


class ExecutionLogs(ProjectResource):
    """``project.execution_logs``: what the bot did in conversations."""

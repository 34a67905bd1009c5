"""Conversations of one project by its ``project_uid`` (``yp.project(uid).sessions``)."""

from __future__ import annotations

from ._base import ProjectResource

__all__ = ["Sessions"]


class Sessions(ProjectResource):
    """``project.sessions``: create sessions, send messages, list and update sessions."""

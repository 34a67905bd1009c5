"""The playground: try a project's bot with other settings; each answer spends credits."""

from __future__ import annotations

from ._base import ProjectResource

__all__ = ["Playground"]


class Playground(ProjectResource):
    """``project.playground``: sessions and answers that spend credits."""

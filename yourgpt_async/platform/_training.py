"""What a project's bot is trained on: texts, FAQs and files (``yp.project(uid).training``)."""

from __future__ import annotations

from ._base import ProjectResource

__all__ = ["Training"]


class Training(ProjectResource):
    """``project.training``: add and list texts and FAQs, upload and list files."""

"""What a project's bot is trained on: texts and FAQs, and files fetched from a URL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import raw_field

__all__ = ["TrainingFile", "TrainingText"]


@attrs.frozen(kw_only=True)
class TrainingText:
    """A text or an FAQ the bot answers from, as the service stores it.

    The service keeps both kinds in two fields: ``short_text`` (an FAQ's question, a text's
    title) and ``detail`` (the answer, or the text itself). :attr:`question` and
    :attr:`title` read the first, :attr:`answer` and :attr:`text` the second.

    Attributes:
        id: The text's id.
        project_id: The project's numeric id.
        type: ``"faq"`` or ``"text"`` (another value the service adds is kept as it is).
        short_text: The question of an FAQ, or the title of a text (``None`` for a text
            without one).
        detail: The answer of an FAQ, or the text itself.
        status: Where training on it is (``"completed"``, ...).
        tags: Its tags (the service sends them comma-separated).
        created_at: When it was added (aware, UTC).
        updated_at: When it last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    project_id: int | None = None
    type: str | None = None
    short_text: str | None = None
    detail: str = ""
    status: str | None = None
    tags: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()

    @property
    def question(self) -> str | None:
        """An FAQ's question: ``short_text``."""
        return self.short_text

    @property
    def answer(self) -> str:
        """An FAQ's answer: ``detail``."""
        return self.detail

    @property
    def title(self) -> str | None:
        """A text's title: ``short_text``."""
        return self.short_text

    @property
    def text(self) -> str:
        """A text's content: ``detail``."""
        return self.detail


@attrs.frozen(kw_only=True)
class TrainingFile:
    """A file the service fetched from a URL to train the bot on.

    Attributes:
        id: The file's id (what ``delete_file`` takes).
        project_id: The project's numeric id.
        name: The file's name (the last part of the URL's path).
        status: ``"processing"`` while the service trains on it, then ``"done"`` (another
            value is kept as it is). The upload's own reply has none.
        size: Its size in bytes, once known.
        tags: Its tags (the service sends them comma-separated).
        extra_settings: The settings it was uploaded with (``{"enable_citation": True}``).
        user_id: The user the upload is recorded under.
        created_at: When it was uploaded (aware, UTC).
        updated_at: When it last changed.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    project_id: int | None = None
    name: str = ""
    status: str | None = None
    size: int | None = None
    tags: tuple[str, ...] = ()
    extra_settings: Mapping[str, Any] | None = None
    user_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()

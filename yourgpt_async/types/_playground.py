"""The playground: sessions to try a project's bot in, and its answers (which spend credits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._common import raw_field

__all__ = ["PlaygroundReply", "PlaygroundSession"]


@attrs.frozen(kw_only=True)
class PlaygroundSession:
    """A playground session: a conversation to try the bot in, apart from real ones.

    Attributes:
        session_uid: The session's uid, always the exact ``str`` (the service sends a
            17-digit number); what ``respond`` takes.
        id: The session's numeric id.
        project_id: The project's numeric id.
        is_emulator: Whether the service marks it as a trial session (it does).
        raw: The decoded dict, with any field this model does not name.
    """

    session_uid: str = ""
    id: int | None = None
    project_id: int | None = None
    is_emulator: bool | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class PlaygroundReply:
    """The bot's answer in the playground, and what it cost.

    Attributes:
        session_uid: The session it answered in, as an exact ``str``.
        message: The answer.
        response_time: How long the answer took, in milliseconds.
        total_credits: The credits it spent.
        raw: The decoded dict, with any field this model does not name.
    """

    session_uid: str = ""
    message: str = ""
    response_time: int | None = None
    total_credits: float | None = None
    raw: Mapping[str, Any] = raw_field()

"""The conversation models: sessions, messages and who sends them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import StrEnum, raw_field

__all__ = [
    "AILogEntry",
    "ChatMode",
    "Choice",
    "ContentType",
    "Message",
    "SendBy",
    "Session",
    "SessionMessage",
    "SessionState",
    "sent_message",
]


class SendBy(StrEnum):
    """Who a message is sent as."""

    USER = "user"
    """The end user: the AI answers (unless a human operator has taken over)."""
    OPERATOR = "operator"
    """A human operator: the session switches to operator mode and the AI stops answering."""
    ASSISTANT = "assistant"
    """The bot itself (a system or scripted message): no AI answer."""


class ChatMode(StrEnum):
    """Who answers the visitor in a session."""

    BOT = "bot"
    """The AI answers every user message."""
    AWAITING = "awaiting"
    """The session waits for a human operator; the AI stays silent."""
    OPERATOR = "operator"
    """A human operator has taken over; the AI stays silent."""


class SessionState(StrEnum):
    """The state of a session's conversation."""

    PENDING = "pending"
    """Open, the state of a new session."""
    UNRESOLVED = "unresolved"
    """Marked as not resolved."""
    RESOLVED = "resolved"
    """Resolved; setting it hands the session back to the bot."""
    CLOSED = "closed"
    """Closed."""


class ContentType(StrEnum):
    """The kind of content a message carries."""

    TEXT = "text"
    """Plain text."""
    PICKER = "picker"
    """Text with buttons to pick from, in ``choices``."""
    IMAGE = "image"
    """An image."""
    AUDIO = "audio"
    """An audio clip."""
    VIDEO = "video"
    """A video."""
    FILE = "file"
    """A file."""


@attrs.frozen(kw_only=True)
class Choice:
    """One button of a picker message (e.g. like / dislike / request a human operator).

    Attributes:
        text: The button's label, e.g. ``"Request a human operator"``.
        value: What picking it means, e.g. ``"requesthumanoperator"``.
        icon: An emoji or icon name shown with it, if any.
        enabled: Whether it can be picked.
    """

    text: str = ""
    value: str = ""
    icon: str | None = None
    enabled: bool = True


@attrs.frozen(kw_only=True)
class Message:
    """A message as ``sendMessage`` returns it: the AI's reply, or the stored message itself.

    Sent as the user, a message gets the AI's answer back, unless an operator holds the
    session: then, as for a message sent as an operator or the assistant, the reply is the
    message itself as stored. ``is_ai_reply`` says which::

        reply = await yg.send_message(uid, "Where is my order?")
        if not reply.is_ai_reply:
            print("the AI did not answer: an operator holds this session")

    Attributes:
        is_ai_reply: Whether this is the AI's answer to the message sent (set by the client:
            a message sent as the user whose reply comes from someone else); ``False`` for the
            message itself, and when the reply does not say who sent it.
        id: The message id.
        session_uid: The session it belongs to.
        message: The text.
        send_by: Who sent it; an unknown value is kept as a plain ``str``.
        content_type: ``text``, ``picker``, ...; an unknown value is kept as a plain ``str``.
        choices: The buttons of a picker message (empty otherwise).
        type: The service's message type (``"text"``).
        origin: Where the message came from (``"api"``).
        raw: The decoded reply ``data``, with any field this model does not name.
    """

    id: int | None = None
    session_uid: str | None = None
    message: str = ""
    send_by: SendBy | str | None = None
    content_type: ContentType | str | None = None
    choices: tuple[Choice, ...] = ()
    type: str | None = None
    origin: str | None = None
    is_ai_reply: bool = False
    raw: Mapping[str, Any] = raw_field()

    @property
    def message_id(self) -> int | None:
        """The message id (the service sends it twice, as ``id`` and ``message_id``)."""
        return self.id


def sent_message(
    reply: Message | None, *, session_uid: str, message: str, send_by: SendBy
) -> Message:
    """What sending ``message`` as ``send_by`` returns: ``reply`` marked as the AI's answer when
    it is one, else the message as stored (as sent, when the reply has none)."""
    if reply is None:  # an operator's or the assistant's send may come back without a body
        return Message(session_uid=session_uid, message=message, send_by=send_by)
    if send_by is SendBy.USER and reply.send_by not in (None, SendBy.USER):
        # The reply was decoded for this call alone: mark it in place rather than copy it.
        object.__setattr__(reply, "is_ai_reply", True)
    return reply


@attrs.frozen(kw_only=True)
class Session:
    """A chat session, as createSession, updateSession and getSessions return it.

    Fields getSessions adds (``last_message`` and friends) are ``None`` elsewhere.

    Attributes:
        id: The numeric id.
        session_uid: The id every other call takes; always a ``str``, even when the service
            sends a 17-digit JSON number.
        chat_mode: ``bot``, ``awaiting`` or ``operator``; an unknown value (some replies say
            ``"1"``) is kept as a plain ``str``.
        state: ``pending``, ``unresolved``, ``resolved`` or ``closed`` (or an unknown ``str``).
        segment: Comma-separated tags.
        created_at: When it was created (aware, UTC), from ``createdAt`` or ``created_at``.
        updated_at: When it last changed, from ``updatedAt`` or ``updated_at``.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    session_uid: str = ""
    chat_mode: ChatMode | str | None = None
    state: SessionState | str | None = None
    status: str | None = None
    segment: str | None = None
    project_id: int | None = None
    integration_id: int | None = None
    device_type: str | None = None
    platform: str | None = None
    ip: str | None = None
    country: str | None = None
    visitor_id: str | None = None
    contact_id: str | None = None
    is_emulator: bool | None = None
    language: str | None = None
    data: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    total_unseen: int | None = None
    last_message: str | None = None
    last_message_id: int | None = None
    last_message_time: datetime | None = None
    last_message_content_type: ContentType | str | None = None
    last_message_type: str | None = None
    visitor_data: Mapping[str, Any] | None = None
    contact_data: Mapping[str, Any] | None = None
    session_meta: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class AILogEntry:
    """Links a user's message to the AI reply it produced.

    Attributes:
        id: The log entry's id.
        query_message_id: The id of the user's message.
        reply_message_id: The id of the AI's reply.
        source_node: Where the answer came from, as the service reports it.
    """

    id: int | None = None
    query_message_id: int | None = None
    reply_message_id: int | None = None
    source_node: Any = None


@attrs.frozen(kw_only=True)
class SessionMessage:
    """A message as getSessionMessages returns it.

    Attributes:
        id: The message id.
        session_id: The numeric id of the session (not its ``session_uid``).
        send_by: ``user``, ``operator`` or ``assistant`` (or an unknown ``str``).
        message: The text.
        content_type: ``text``, ``picker``, ... (or an unknown ``str``).
        choices: The buttons of a picker message (empty otherwise).
        created_at: When it was stored (aware, UTC).
        ai_log: For an AI reply, which message it answered.
        raw: The decoded dict, with any field this model does not name.
    """

    id: int | None = None
    session_id: int | None = None
    send_by: SendBy | str | None = None
    message: str | None = None
    content_type: ContentType | str | None = None
    choices: tuple[Choice, ...] = ()
    type: str | None = None
    rate: Any = None
    seen: bool | None = None
    delivered: bool | None = None
    sender_id: str | None = None
    url: str | None = None
    targets: Any = None
    provider_message_id: str | None = None
    streaming: bool | None = None
    response_source: str | None = None
    extra_data: Any = None
    created_at: datetime | None = None
    deleted_at: datetime | None = None
    ai_log: tuple[AILogEntry, ...] = ()
    raw: Mapping[str, Any] = raw_field()

"""The emulator's data: keys, widgets and projects, sessions and their messages, the ledger of
accepted messages and the record of requests, the ids it hands out, and how a session or a
message looks in the API's replies. Nothing here knows about HTTP."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone

import attrs

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_WIDGET_UID",
    "OTHER_WIDGET_UID",
    "SAMPLE_DOCUMENT",
    "CallRecord",
    "Document",
    "LedgerEntry",
    "LogRecord",
    "Message",
    "Plan",
    "RequestRecord",
    "Session",
    "State",
    "iso",
    "message_item",
    "now",
    "sent_message",
]

DEFAULT_API_KEY = "apk-emulator-key"
"""The API key an :class:`Emulator` accepts by default (it belongs to project ``"project-1"``)."""
DEFAULT_WIDGET_UID = "5f0c2a7e-8d41-4b6a-9c3e-1a2b3c4d5e6f"
"""The widget an :class:`Emulator` has by default, in the default key's project ``"project-1"``."""
OTHER_WIDGET_UID = "9e8d7c6b-5a49-4382-a716-0f1e2d3c4b5a"
"""A widget of another project (``"project-2"``): using it with the default key gives HTTP 403."""

SAMPLE_DOCUMENT = (
    "Our support team answers on weekdays, from 9:00 to 17:00 CET.\n\n"
    "To reset your password, open Settings > Security and choose Reset password.\n\n"
    "Passwords must be at least 12 characters long."
)
"""What the first project's bot is trained on from the start, for knowledge-base search."""

_FIRST_SESSION_UID = 17226012685401506
_FIRST_SESSION_ID = 5263071
_FIRST_MESSAGE_ID = 241042
_FIRST_AI_LOG_ID = 991
_FIRST_LOG_ID = 88100
_FIRST_DOC_ID = 4400


@attrs.frozen
class LedgerEntry:
    """A message accepted by sendMessage (never an AI reply).

    Attributes:
        message_id: The id the emulator gave the stored message.
        session_uid: The session it was sent to.
        send_by: ``"user"``, ``"operator"`` or ``"assistant"``.
        message: The text.
        widget_uid: The widget named in the request.
    """

    message_id: int
    session_uid: str
    send_by: str
    message: str
    widget_uid: str


@attrs.frozen
class RequestRecord:
    """One request the emulator received, whatever became of it.

    Attributes:
        endpoint: The endpoint name (``"sendMessage"``), or the path for an unknown endpoint.
        status: The HTTP status answered, or ``None`` when the connection was dropped.
        fault: The ``FaultKind`` value applied (``"drop_after"``), or ``None``.
        api_key_ok: Whether the request carried a known API key.
        request_id: The ``x-request-id`` the answer carried, or ``None`` when the connection was
            dropped (left out of comparisons).
    """

    endpoint: str
    status: int | None
    fault: str | None
    api_key_ok: bool
    request_id: str | None = attrs.field(default=None, eq=False)


@attrs.frozen
class CallRecord:
    """An outbound call makeOutboundCall accepted (the emulator's ledger of calls).

    Attributes:
        call_id: The id the emulator gave the call.
        project: The project whose key asked for it.
        agent_id: The voice agent asked to call.
        call_to: The number called.
        extra_data: What the request carried in ``extra_data``, if anything.
    """

    call_id: str
    project: str
    agent_id: str
    call_to: str
    extra_data: Mapping[str, object] | None = None


@attrs.frozen
class Document:
    """A document a project's bot was trained on, in chunks (what knowledge-base search finds).

    Attributes:
        doc_id: The document's id.
        project: The project it belongs to.
        chunks: Its chunks: (point id, text) each.
    """

    doc_id: int
    project: str
    chunks: tuple[tuple[str, str], ...]


@attrs.define
class Plan:
    """What a project's plan allows, as far as the emulator checks it.

    Attributes:
        knowledgebase: Knowledge-base search (the Professional plan and above); without it the
            endpoint answers 403.
    """

    knowledgebase: bool = True


@attrs.frozen
class LogRecord:
    """One execution-log entry: something the bot did in a session."""

    id: int
    project: str
    session_id: int
    session_uid: str
    task: str
    type: str
    message: str
    data: Mapping[str, object]
    created_at: datetime


@attrs.define
class Message:
    """A stored message, the AI's replies included."""

    id: int
    session_id: int
    send_by: str
    text: str
    created_at: datetime
    content_type: str = "text"
    choices: list[dict[str, object]] | None = None
    response_source: str | None = None
    ai_log: list[dict[str, object]] = attrs.Factory(list)


@attrs.define
class Session:
    """A stored session and its messages, oldest first."""

    id: int
    session_uid: str
    widget_uid: str
    project: str
    created_at: datetime
    # Position in the emulator's activity order: bumped by creation and by every message.
    activity: int
    updated_at: datetime
    chat_mode: str = "bot"
    state: str = "pending"
    segment: str | None = None
    messages: list[Message] = attrs.Factory(list)


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """A moment as the service writes it: ISO 8601, to the millisecond, in UTC as ``Z``."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class State:
    """Everything the emulator stores, and the counters its ids come from.

    Args:
        api_keys: API key to project id. Default: ``{DEFAULT_API_KEY: "project-1"}``.
        widgets: Widget uid to project id. Default: ``DEFAULT_WIDGET_UID`` in ``"project-1"`` and
            ``OTHER_WIDGET_UID`` in ``"project-2"``.

    Raises:
        ValueError: ``api_keys`` or ``widgets`` is empty.
    """

    def __init__(
        self, api_keys: Mapping[str, str] | None, widgets: Mapping[str, str] | None
    ) -> None:
        self.api_keys = dict({DEFAULT_API_KEY: "project-1"} if api_keys is None else api_keys)
        self.widgets = dict(
            {DEFAULT_WIDGET_UID: "project-1", OTHER_WIDGET_UID: "project-2"}
            if widgets is None
            else widgets
        )
        if not self.api_keys or not self.widgets:
            raise ValueError("the emulator needs at least one API key and one widget")
        projects = dict.fromkeys(itertools.chain(self.api_keys.values(), self.widgets.values()))
        # Each project id is shown as an integer project_id, numbered in order of appearance.
        self.project_ids = {project: number for number, project in enumerate(projects, 1)}
        self.sessions: dict[str, Session] = {}
        self.ledger: list[LedgerEntry] = []
        self.logs: list[LogRecord] = []
        self.documents: list[Document] = []
        self.calls: list[CallRecord] = []
        self.plans: dict[str, Plan] = {}
        self._log_ids = itertools.count(_FIRST_LOG_ID)
        self._doc_ids = itertools.count(_FIRST_DOC_ID)
        self._call_ids = itertools.count(1)
        first = next(iter(self.project_ids))
        self.add_document(first, SAMPLE_DOCUMENT)
        self._session_uids = itertools.count(_FIRST_SESSION_UID)
        self._session_ids = itertools.count(_FIRST_SESSION_ID)
        self._message_ids = itertools.count(_FIRST_MESSAGE_ID)
        self._ai_log_ids = itertools.count(_FIRST_AI_LOG_ID)
        self._activity = itertools.count()

    def new_session(self, widget_uid: str, project: str) -> Session:
        """Create and store a session of ``project``, on ``widget_uid``."""
        moment = now()
        session = Session(
            id=next(self._session_ids),
            session_uid=str(next(self._session_uids)),
            widget_uid=widget_uid,
            project=project,
            created_at=moment,
            activity=next(self._activity),
            updated_at=moment,
        )
        self.sessions[session.session_uid] = session
        return session

    def sessions_of(self, project: str) -> Iterator[Session]:
        """The sessions of ``project``, in order of creation."""
        return (session for session in self.sessions.values() if session.project == project)

    def store(
        self,
        session: Session,
        send_by: str,
        text: str,
        *,
        content_type: str = "text",
        choices: list[dict[str, object]] | None = None,
        response_source: str | None = None,
    ) -> Message:
        """Add a message to ``session``, which becomes the most recently active."""
        moment = now()
        message = Message(
            id=next(self._message_ids),
            session_id=session.id,
            send_by=send_by,
            text=text,
            created_at=moment,
            content_type=content_type,
            choices=choices,
            response_source=response_source,
        )
        session.messages.append(message)
        session.activity = next(self._activity)
        session.updated_at = moment
        return message

    def log_ai_reply(self, query: Message, reply: Message) -> None:
        """Note in ``reply``'s AI log that it answers ``query``."""
        reply.ai_log.append(
            {
                "id": next(self._ai_log_ids),
                "query_message_id": query.id,
                "reply_message_id": reply.id,
                "source_node": None,
            }
        )

    def plan(self, project: str) -> Plan:
        """``project``'s plan (the default one until changed)."""
        return self.plans.setdefault(project, Plan())

    def log(
        self, session: Session, task: str, type_: str, message: str, data: Mapping[str, object]
    ) -> LogRecord:
        """Record that the bot did something in ``session``."""
        record = LogRecord(
            id=next(self._log_ids),
            project=session.project,
            session_id=session.id,
            session_uid=session.session_uid,
            task=task,
            type=type_,
            message=message,
            data=dict(data),
            created_at=now(),
        )
        self.logs.append(record)
        return record

    def add_document(self, project: str, text: str) -> Document:
        """Train ``project``'s bot on ``text``: one chunk per paragraph."""
        doc_id = next(self._doc_ids)
        paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
        chunks = tuple(
            (f"{doc_id:08x}-0000-4000-8000-{index:012x}", paragraph)
            for index, paragraph in enumerate(paragraphs)
        )
        document = Document(doc_id, project, chunks)
        self.documents.append(document)
        return document

    def place_call(
        self,
        project: str,
        agent_id: str,
        call_to: str,
        extra_data: Mapping[str, object] | None,
    ) -> CallRecord:
        """Record an outbound call asked for by ``project``'s key."""
        record = CallRecord(f"CA{next(self._call_ids):08x}", project, agent_id, call_to, extra_data)
        self.calls.append(record)
        return record

    def session_object(self, session: Session) -> dict[str, object]:
        """``session`` as createSession and updateSession show it."""
        return {
            "id": session.id,
            "session_uid": session.session_uid,
            "chat_mode": session.chat_mode,
            "project_id": self.project_ids[session.project],
            "integration_id": 0,
            "state": session.state,
            "segment": session.segment,
            "status": "closed" if session.state == "closed" else "open",
            "device_type": None,
            "platform": None,
            "ip": None,
            "country": None,
            "visitor_id": None,
            "is_emulator": True,
            "data": {},
            "contact_id": None,
            "createdAt": iso(session.created_at),
            "updatedAt": iso(session.updated_at),
        }

    def session_item(self, session: Session) -> dict[str, object]:
        """``session`` as an item of getSessions, with its last message."""
        item = self.session_object(session)
        del item["createdAt"], item["updatedAt"]
        last = session.messages[-1] if session.messages else None
        item.update(
            created_at=iso(session.created_at),
            updated_at=iso(session.updated_at),
            total_unseen=sum(1 for message in session.messages if message.send_by != "user"),
            last_message_time=None if last is None else iso(last.created_at),
            last_message=None if last is None else last.text,
            last_message_id=None if last is None else last.id,
            last_message_content_type=None if last is None else last.content_type,
            last_message_type=None if last is None else "text",
            visitor_data=None,
            contact_data=None,
            session_meta={},
        )
        return item


def sent_message(message: Message, session: Session) -> dict[str, object]:
    """``message`` as sendMessage shows it."""
    return {
        "send_by": message.send_by,
        "origin": "api",
        "session_uid": session.session_uid,
        "type": "text",
        "message_id": message.id,
        "message": message.text,
        "content_type": message.content_type,
        "id": message.id,
        "choices": list(message.choices or ()),
    }


def log_item(record: LogRecord, project_id: int) -> dict[str, object]:
    """``record`` as an item of getChatbotExecutionLogs (the uid a bare number in one of two,
    as the pages disagree)."""
    uid: object = int(record.session_uid) if record.id % 2 else record.session_uid
    return {
        "id": record.id,
        "project_id": project_id,
        "session_id": record.session_id,
        "data": {
            "task": record.task,
            "type": record.type,
            "message": record.message,
            "data": dict(record.data),
        },
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.created_at),
        "executionlog_session_data": {"session_uid": uid},
    }


def message_item(message: Message) -> dict[str, object]:
    """``message`` as an item of getSessionMessages."""
    return {
        "id": message.id,
        "session_id": message.session_id,
        "send_by": message.send_by,
        "rate": None,
        "message": message.text,
        "type": "text",
        "seen": 1 if message.send_by == "user" else 0,
        "sender_id": None,
        "content_type": message.content_type,
        "choices": message.choices,
        "targets": None,
        "url": None,
        "delivered": 1,
        "provider_message_id": None,
        "streaming": False,
        "response_source": message.response_source,
        "extra_data": None if message.response_source is None else {},
        "createdAt": iso(message.created_at),
        "deleted_at": None,
        "AILog": message.ai_log,
    }

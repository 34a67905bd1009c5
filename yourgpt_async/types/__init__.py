"""The typed results of every endpoint: frozen attrs models and str enums, grouped by resource.

Models know nothing of JSON or HTTP; the package's converter (``_converter``) decodes replies into
them. Each keeps what it was decoded from in ``raw``, for fields it does not name. Everything here
is also importable from ``yourgpt_async``.
"""

from ._calls import OutboundCall
from ._common import Page, Priority, RateLimitInfo, RawResponse
from ._contacts import Company, Contact, ContactList, ContactTag, ContactType
from ._conversations import (
    AILogEntry,
    ChatMode,
    Choice,
    ContentType,
    Message,
    SendBy,
    Session,
    SessionMessage,
    SessionState,
)
from ._debugging import ExecutionLog, KnowledgebaseHit
from ._organization import Invitation, Member, MemberPage, Organization
from ._playground import PlaygroundReply, PlaygroundSession
from ._projects import Project, ProjectMember, SupportedModel
from ._training import TrainingFile, TrainingText

__all__ = [
    "AILogEntry",
    "ChatMode",
    "Choice",
    "Company",
    "Contact",
    "ContactList",
    "ContactTag",
    "ContactType",
    "ContentType",
    "ExecutionLog",
    "Invitation",
    "KnowledgebaseHit",
    "Member",
    "MemberPage",
    "Message",
    "Organization",
    "OutboundCall",
    "Page",
    "PlaygroundReply",
    "PlaygroundSession",
    "Priority",
    "Project",
    "ProjectMember",
    "RateLimitInfo",
    "RawResponse",
    "SendBy",
    "Session",
    "SessionMessage",
    "SessionState",
    "SupportedModel",
    "TrainingFile",
    "TrainingText",
]

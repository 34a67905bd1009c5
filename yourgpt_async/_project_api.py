"""The Project Integration API's eight endpoints, declared (``AsyncClient``'s methods call them).

Six of these paths serve the Platform API too, with another parameter set; the credential
decides which applies, so each is declared once, for both families, and the Platform API's
resources that use them (``platform._sessions``, ``platform._debugging``) call these
declarations too.
"""

from __future__ import annotations

from typing import Final

from ._endpoints import Family, Safety, declare
from ._readback import MessageReconciler
from ._replies import listing, many, one, optional
from .types import (
    ExecutionLog,
    KnowledgebaseHit,
    Message,
    OutboundCall,
    Session,
    SessionMessage,
)

__all__ = [
    "CREATE_SESSION",
    "GET_EXECUTION_LOGS",
    "GET_SESSIONS",
    "GET_SESSION_MESSAGES",
    "MAKE_OUTBOUND_CALL",
    "SEARCH_KNOWLEDGEBASE",
    "SEND_MESSAGE",
    "UPDATE_SESSION",
]

_BOTH: Final = frozenset({Family.PROJECT, Family.PLATFORM})

CREATE_SESSION: Final = declare(
    "createSession",
    safety=Safety.CREATE,
    reply=one(Session),
    families=_BOTH,
    summary="Create a chat session.",
    permission="Conversation › Write",
    check="a session left unused costs nothing, so creating another instead is harmless "
    "(get_sessions lists them)",
)
GET_SESSION_MESSAGES: Final = declare(
    "getSessionMessages",
    safety=Safety.READ,
    reply=listing(SessionMessage),
    families=Family.PROJECT,
    summary="List a session's messages, a page at a time.",
)
SEND_MESSAGE: Final = declare(
    "sendMessage",
    safety=Safety.CREATE,
    reply=optional(Message),
    families=_BOTH,
    summary="Send a message into a session, as the user, an operator or the assistant.",
    permission="Conversation › Write",
    reconcile=MessageReconciler.factory(GET_SESSION_MESSAGES),
    check="look for it among the session's messages (get_session_messages) before sending it again",
)
UPDATE_SESSION: Final = declare(
    "updateSession",
    safety=Safety.READ,
    reply=one(Session),
    families=_BOTH,
    summary="Change a session's state, chat mode or segment.",
    permission="Conversation › Write",
)
GET_SESSIONS: Final = declare(
    "getSessions",
    safety=Safety.READ,
    reply=listing(Session),
    families=_BOTH,
    summary="List the project's sessions, a page at a time.",
    permission="Conversation › Read",
)
GET_EXECUTION_LOGS: Final = declare(
    "getChatbotExecutionLogs",
    safety=Safety.READ,
    reply=listing(ExecutionLog),
    families=_BOTH,
    summary="List what the bot did in conversations (newest first), a page at a time.",
    permission="Debugging › Read",
)
SEARCH_KNOWLEDGEBASE: Final = declare(
    "searchIndexDocument",
    safety=Safety.READ,
    reply=many(KnowledgebaseHit),
    families=_BOTH,
    summary="Search what the bot was trained on; the best-matching chunks.",
    permission="Debugging › Read",
    hints={
        403: "knowledge-base search needs the Professional plan or above: this project's "
        "plan does not include it (or the credential has no access to the project)",
    },
)
MAKE_OUTBOUND_CALL: Final = declare(
    "makeOutboundCall",
    safety=Safety.CALL,
    reply=optional(OutboundCall),
    families=Family.PROJECT,
    summary="Have the project's voice agent call a phone number.",
    check="check the voice agent's call log for it before calling again",
)

"""The six paths the Platform API shares with the project key's (createSession, sendMessage,
getSessions, updateSession, searchIndexDocument, getChatbotExecutionLogs), for an
organisation's token: the project named by ``project_uid``, the token's parameter set, and the
same sessions, messages, logs and documents as the project's key sees."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .._endpoints import Family
from .._project_api import (
    CREATE_SESSION,
    GET_EXECUTION_LOGS,
    GET_SESSIONS,
    SEARCH_KNOWLEDGEBASE,
    SEND_MESSAGE,
    UPDATE_SESSION,
)
from . import _params as read
from ._conversations import Conversations
from ._debugging import Debugging
from ._dispatch import handles
from ._params import Params
from ._platform import Platform, TokenCaller
from ._responses import success
from ._state import Message, Session, State

__all__ = ["PlatformConversations"]

_CONTENT_TYPES: Final = ("text", "picker", "image", "audio", "video", "file")
_STATUSES: Final = ("open", "closed")
_UPDATE_FIELDS: Final = frozenset({"project_uid", "session_uid", "state", "chat_mode", "segment"})
# The fields of a getSessions row for a token: fewer than the project key's.
_ROW_FIELDS: Final = (
    "session_uid",
    "id",
    "project_id",
    "integration_id",
    "status",
    "chat_mode",
    "state",
    "segment",
    "country",
    "created_at",
    "updated_at",
    "last_message",
    "last_message_time",
    "visitor_data",
    "contact_data",
    "session_meta",
)


def _sent(message: Message, session: Session) -> dict[str, object]:
    """``message`` as the token's sendMessage shows it (the uid a bare number, as its page)."""
    return {
        "send_by": message.send_by,
        "origin": "api",
        "session_uid": int(session.session_uid),
        "type": "text",
        "message_id": message.id,
        "message": message.text,
        "content_type": message.content_type,
        "id": message.id,
    }


class PlatformConversations:
    """The shared paths for an organisation's token, over the project key's logic."""

    def __init__(
        self,
        state: State,
        platform: Platform,
        conversations: Conversations,
        debugging: Debugging,
    ) -> None:
        self._state = state
        self._platform = platform
        self._conversations = conversations
        self._debugging = debugging

    @handles(CREATE_SESSION, Family.PLATFORM)
    async def create_session(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, CREATE_SESSION)
        data = self._conversations.open(record.project, record.widget_uid)
        self._platform.record(
            CREATE_SESSION, record.project_uid, session_uid=str(data["session_uid"])
        )
        return success("Session created successfully", data)

    @handles(SEND_MESSAGE, Family.PLATFORM)
    async def send_message(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, SEND_MESSAGE)
        session_uid = read.required(params, "session_uid")
        text = read.required(params, "message")
        content_type = read.choice(params, "content_type", _CONTENT_TYPES) or "text"
        session = self._conversations.session(session_uid, record.project)
        self._platform.record(
            SEND_MESSAGE, record.project_uid, session_uid=session_uid, message=text
        )
        stored, _ = await self._conversations.deliver(
            session, "user", text, content_type=content_type
        )
        return success("Message sent successfully", _sent(stored, session))

    @handles(UPDATE_SESSION, Family.PLATFORM)
    async def update_session(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, UPDATE_SESSION)
        unknown = sorted(set(params) - _UPDATE_FIELDS)
        if unknown:
            raise read.invalid(unknown[0], f"{unknown[0]} is not allowed")
        data = self._conversations.change(params, record.project)
        return success("Session updated successfully", data)

    @handles(GET_SESSIONS, Family.PLATFORM)
    async def get_sessions(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, GET_SESSIONS)
        status = read.choice(params, "status", _STATUSES)
        page, limit = read.paging(params)
        rows = []
        for session in self._conversations.listed(params, record.project):
            item = self._state.session_item(session)
            if status in (None, item["status"]):
                row = {field: item.get(field) for field in _ROW_FIELDS}
                row["session_uid"] = int(session.session_uid)  # a number, as the page shows
                rows.append(row)
        return success(
            "Data Fetched Successfully!", read.page_of(rows, page, limit), total=len(rows)
        )

    @handles(SEARCH_KNOWLEDGEBASE, Family.PLATFORM)
    async def search_knowledgebase(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, SEARCH_KNOWLEDGEBASE)
        hits = self._debugging.hits(params, record.project, limit_required=True)
        return success("Data Fetched Successfully!", hits)

    @handles(GET_EXECUTION_LOGS, Family.PLATFORM)
    async def get_execution_logs(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, GET_EXECUTION_LOGS)
        logs = self._debugging.logs(params, record.project)
        return success("Execution logs fetched successfully", logs)

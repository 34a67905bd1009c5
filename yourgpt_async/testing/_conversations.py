"""The conversation endpoints of the Project Integration API: createSession, sendMessage,
updateSession, getSessions and getSessionMessages, answering from the emulator's state.

What a session, a message or a change does is :class:`Conversations`' own logic, by project;
the project key's handlers here and the organisation token's (``_platform_conversations``)
both call it, so a session made with one credential is the other's too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import web

from .._project_api import (
    CREATE_SESSION,
    GET_SESSION_MESSAGES,
    GET_SESSIONS,
    SEND_MESSAGE,
    UPDATE_SESSION,
)
from . import _params as read
from ._dispatch import ProjectCaller, handles
from ._params import Params, RequestError
from ._responses import success
from ._state import LedgerEntry, Message, Session, State, message_item, now, sent_message

__all__ = ["Conversations"]

_MAX_SEGMENT = 255
_SEND_BY = ("user", "operator", "assistant")
_STATES = ("pending", "unresolved", "resolved", "closed")
_CHAT_MODES = ("bot", "awaiting", "operator")
_PICKER_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("👍", "I am satisfied", "like"),
    ("👎", "I am not satisfied", "dislike"),
    ("🦸", "Request a human operator", "requesthumanoperator"),
)


class Conversations:
    """The conversation endpoints of a project's key, answering from ``state``; and the logic
    behind them, by project, for every credential.

    Args:
        state: The emulator's data, read and changed by the endpoints.
        ai_latency: Seconds the AI "thinks" before replying to a user message.
    """

    def __init__(self, state: State, *, ai_latency: float) -> None:
        self._state = state
        self._ai_latency = ai_latency

    # -- lookups ------------------------------------------------------------------------------

    def _widget(self, params: Params, project: str) -> str:
        widget_uid = read.required(params, "widget_uid")
        owner = self._state.widgets.get(widget_uid)
        if owner is None:
            raise read.invalid("widget_uid", "widget_uid is invalid")
        if owner != project:
            raise RequestError(403, "You do not have access to this widget")
        return widget_uid

    def session(self, session_uid: str, project: str, widget_uid: str | None = None) -> Session:
        """The session ``session_uid`` of ``project`` (and of ``widget_uid``, if given).

        Raises:
            RequestError: No such session there: RXERROR "Session not found" at HTTP 200.
        """
        session = self._state.sessions.get(session_uid)
        if (
            session is None
            or session.project != project
            or widget_uid not in (None, session.widget_uid)
        ):
            raise RequestError(200, "Session not found")
        return session

    # -- the logic, by project (no await between reading and writing shared state) -----------

    def open(self, project: str, widget_uid: str) -> dict[str, object]:
        """A new session of ``project`` on ``widget_uid``, as createSession answers it."""
        session = self._state.new_session(widget_uid, project)
        data = self._state.session_object(session)
        data["session_uid"] = int(session.session_uid)  # the one place it is a bare number
        return data

    async def deliver(
        self, session: Session, send_by: str, text: str, *, content_type: str = "text"
    ) -> tuple[Message, Message | None]:
        """Store a message sent into ``session``, and the AI's reply to it if there is one.

        A user's message in bot mode gets the reply, ``ai_latency`` seconds later; an
        operator's switches the session to operator mode.

        Returns:
            The stored message, and the AI's reply (``None`` when there is none).
        """
        stored = self._state.store(session, send_by, text, content_type=content_type)
        self._state.ledger.append(
            LedgerEntry(stored.id, session.session_uid, send_by, text, session.widget_uid)
        )
        if send_by == "operator":
            session.chat_mode = "operator"
        if send_by != "user" or session.chat_mode != "bot":
            return stored, None
        if self._ai_latency:
            await asyncio.sleep(self._ai_latency)
        question = text.rstrip().endswith("?")
        reply = self._state.store(
            session,
            "assistant",
            f"You said: {text}",
            content_type="picker" if question else "text",
            choices=[
                {"icon": icon, "text": label, "value": value, "enabled": True}
                for icon, label, value in (_PICKER_CHOICES if question else ())
            ],
            response_source="ai",
        )
        self._state.log_ai_reply(stored, reply)
        self._state.log(
            session,
            "ai_reply",
            "action",
            "Answered a user message",
            {"query_message_id": stored.id, "reply_message_id": reply.id},
        )
        return stored, reply

    def change(self, params: Params, project: str) -> dict[str, object]:
        """Apply updateSession's ``state``, ``chat_mode`` and ``segment`` to the session
        ``params`` names; the session as updateSession answers it."""
        session_uid = read.required(params, "session_uid")
        state = read.choice(params, "state", _STATES)
        chat_mode = read.choice(params, "chat_mode", _CHAT_MODES)
        segment = read.text(params, "segment")
        if segment is not None and len(segment) > _MAX_SEGMENT:
            raise read.invalid("segment", f"segment must be at most {_MAX_SEGMENT} characters")
        if state == "resolved" and chat_mode is not None:
            raise read.invalid(
                "chat_mode", "chat_mode cannot be changed together with state=resolved"
            )
        session = self.session(session_uid, project)
        if state is not None:
            session.state = state
        if state == "resolved":
            chat_mode = "bot"
        if chat_mode is not None:
            session.chat_mode = chat_mode
        if segment is not None:
            session.segment = segment
        if (state, chat_mode, segment) != (None, None, None):
            session.updated_at = now()
        data = self._state.session_object(session)
        data["language"] = "en"
        return data

    def listed(self, params: Params, project: str) -> list[Session]:
        """``project``'s sessions created within getSessions' ``from`` and ``to``, by last
        activity in its ``orderBy``."""
        start, end = read.day(params, "from"), read.day(params, "to")
        order = read.order(params, "orderBy")
        return sorted(
            (
                session
                for session in self._state.sessions_of(project)
                if (start is None or session.created_at.date() >= start)
                and (end is None or session.created_at.date() <= end)
            ),
            key=lambda session: session.activity,
            reverse=order == "DESC",
        )

    # -- the project key's endpoints ----------------------------------------------------------

    @handles(CREATE_SESSION)
    async def create_session(self, params: Params, caller: ProjectCaller) -> web.Response:
        widget_uid = self._widget(params, caller.project)
        return success("Session created successfully", self.open(caller.project, widget_uid))

    @handles(SEND_MESSAGE)
    async def send_message(self, params: Params, caller: ProjectCaller) -> web.Response:
        project = caller.project
        widget_uid = self._widget(params, project)
        session_uid = read.required(params, "session_uid")
        text = read.required(params, "message")
        send_by = read.choice(params, "send_by", _SEND_BY) or "user"
        session = self.session(session_uid, project, widget_uid)
        stored, reply = await self.deliver(session, send_by, text)
        if reply is None:
            return success("Message sent successfully", sent_message(stored, session))
        return success("AI reply", sent_message(reply, session))

    @handles(UPDATE_SESSION)
    async def update_session(self, params: Params, caller: ProjectCaller) -> web.Response:
        return success("Session updated successfully", self.change(params, caller.project))

    @handles(GET_SESSIONS)
    async def get_sessions(self, params: Params, caller: ProjectCaller) -> web.Response:
        page, limit = read.paging(params)
        read.integer(
            params, "view_id", default=0, minimum=0, maximum=None
        )  # validated, then ignored
        conditions = read.filters(params)
        items = [
            self._state.session_item(session) for session in self.listed(params, caller.project)
        ]
        items = [item for item in items if all(read.matches(item, c) for c in conditions)]
        return success(
            "Sessions fetched successfully", read.page_of(items, page, limit), total=len(items)
        )

    @handles(GET_SESSION_MESSAGES)
    async def get_session_messages(self, params: Params, caller: ProjectCaller) -> web.Response:
        project = caller.project
        session_uid = read.required(params, "session_uid")
        order = read.order(params, "orderBy", "order")
        page, limit = read.paging(params)
        session = self.session(session_uid, project)
        messages: Iterable[Message] = session.messages
        if order == "DESC":
            messages = reversed(session.messages)
        items = [message_item(message) for message in messages]
        return success(
            "Messages fetched successfully", read.page_of(items, page, limit), total=len(items)
        )

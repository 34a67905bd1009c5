"""The playground: try a project's bot with other settings; each answer spends credits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .. import _validate as check
from .._calls import Timeout
from .._config import RetryPolicy
from .._endpoints import Family, Safety, declare
from .._exceptions import ConfigurationError
from .._replies import one
from .._resource import calls
from ..types import PlaygroundReply, PlaygroundSession, Priority
from ._base import ProjectResource

__all__ = ["MAX_PREVIOUS_CHAT", "Playground"]

MAX_PREVIOUS_CHAT: Final = 50
"""The most earlier turns ``respond`` may pass as ``previous_chat``."""

CREATE_PLAYGROUND_SESSION: Final = declare(
    "createPlaygroundAgentSession",
    safety=Safety.CREATE,
    reply=one(PlaygroundSession),
    families=Family.PLATFORM,
    summary="Start a playground session, to try a project's bot in.",
    check="a playground session left unused costs nothing, so creating another instead is harmless",
)
PLAYGROUND_RESPONSE: Final = declare(
    "playgroundAgentResponse",
    safety=Safety.CREATE,
    reply=one(PlaygroundReply),
    families=Family.PLATFORM,
    summary="Ask a project's bot in the playground, with settings of the caller's; spends credits.",
    check=(
        "no list shows playground answers, so nothing can tell whether this one was made and "
        "its credits spent: ask again only if spending twice is acceptable"
    ),
)


def _previous_chat(value: object) -> list[dict[str, Any]]:
    """Earlier turns: a sequence of at most 50 JSON objects."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ConfigurationError(
            "previous_chat must be a list of earlier turns, each a mapping, got "
            + check.short(value)
        )
    if len(value) > MAX_PREVIOUS_CHAT:
        raise ConfigurationError(
            f"previous_chat must hold at most {MAX_PREVIOUS_CHAT} earlier turns, got {len(value)}"
        )
    return [check.json_object(f"previous_chat[{n}]", turn) for n, turn in enumerate(value)]


class Playground(ProjectResource):
    """``project.playground``: try the bot with other settings, apart from real conversations.

    Each answer spends the organisation's credits (how many depends on the model), so
    :meth:`respond` is never sent twice on its own: after an ambiguous failure it raises
    :class:`~yourgpt_async.DeliveryUnknownError`, and nothing can read the answer back.
    """

    @calls(CREATE_PLAYGROUND_SESSION)
    async def create_session(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> PlaygroundSession:
        """Start a playground session to ask the bot in.

        Not idempotent, but harmless to repeat by hand: an unused session costs nothing.

        Args:
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The session; pass its ``session_uid`` to :meth:`respond`.
        """
        return await self._client._caller.call(
            CREATE_PLAYGROUND_SESSION, self._payload(), retry, timeout, priority
        )

    @calls(PLAYGROUND_RESPONSE)
    async def respond(
        self,
        session_uid: str,
        query: str,
        *,
        agent_setting: Mapping[str, Any] | None = None,
        previous_chat: Sequence[Mapping[str, Any]] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> PlaygroundReply:
        """Ask the bot, maybe with other settings than the project's; spends credits.

        Never resent after an ambiguous failure (unless the policy has
        ``retry_unsafe=True``): :class:`~yourgpt_async.DeliveryUnknownError` says the answer
        may have been made and paid for. When the credits are spent it raises
        :class:`~yourgpt_async.QuotaExceededError`.

        Args:
            session_uid: The playground session (from :meth:`create_session`).
            query: What to ask, at most 5,000 characters.
            agent_setting: Settings for this answer only, as JSON (``{"model": "gpt-4o",
                "system_prompt": "...", "temperature": 0.2}``).
            previous_chat: Earlier turns of the conversation for the bot to see, at most 50,
                each a JSON object as the service takes them.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The answer, how long it took and the credits it spent.
        """
        payload = self._payload(
            session_uid=check.uid("session_uid", session_uid),
            query=check.text("query", query, limit=check.MAX_QUERY),
            agent_setting=None
            if agent_setting is None
            else check.json_object("agent_setting", agent_setting),
            previous_chat=None if previous_chat is None else _previous_chat(previous_chat),
        )
        return await self._client._caller.call(
            PLAYGROUND_RESPONSE, payload, retry, timeout, priority
        )

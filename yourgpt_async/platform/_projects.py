"""The organisation's projects (``yp.projects``) and the AI models they can use (``yp.models``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final, Literal

from .. import _validate as check
from .._calls import Timeout
from .._config import RetryPolicy
from .._endpoints import Family, Safety, declare
from .._exceptions import ConfigurationError
from .._reconcile import FindBy
from .._replies import listing, many, nothing, one
from .._resource import Resource, calls
from ..types import Page, Priority, Project, SupportedModel
from ._base import list_query

__all__ = ["Models", "Projects"]

GET_MY_PROJECTS: Final = declare(
    "getMyProjects",
    safety=Safety.READ,
    reply=listing(Project),
    families=Family.PLATFORM,
    summary="List the projects the token can reach, a page at a time.",
)
CREATE_CHATBOT: Final = declare(
    "createChatbot",
    safety=Safety.CREATE,
    reply=one(Project),
    families=Family.PLATFORM,
    summary="Create a project (a chatbot with its own widget).",
    permission="Owner",
    reconcile=FindBy.factory(
        GET_MY_PROJECTS,
        query=lambda payload: {"search": payload["name"], "orderBy": "DESC"},
        same=lambda project, payload: project.name == payload["name"],
    ),
    check="look for it with projects.list(search=name) before creating it again",
)
UPDATE_CHATBOT: Final = declare(
    "updateChatbot",
    safety=Safety.READ,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Rename a project or change how long it keeps conversations.",
    permission="Chatbot › Write",
)
UPDATE_PROJECT_SETTINGS: Final = declare(
    "updateProjectSettings",
    safety=Safety.READ,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Change a project's AI settings (prompt, model, temperature, ...).",
    permission="Setting › Write",
)
GET_SUPPORTED_MODELS: Final = declare(
    "getSupportedModels",
    safety=Safety.READ,
    reply=many(SupportedModel),
    families=Family.PLATFORM,
    summary="List the AI models a project can use.",
)

_MODES: Final = ("agent", "chat")


def _retention(value: object) -> int:
    """Seconds to keep conversations: a ``timedelta`` or whole seconds; 0 keeps them forever."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, float) and seconds.is_integer():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ConfigurationError(
            "retention must be a timedelta or whole seconds, at least 0 (0 keeps conversations "
            f"forever), got {check.short(value)}"
        )
    return seconds


def _number(name: str, value: object, low: float, high: float, *, whole: bool) -> float | None:
    if value is None:
        return None
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        what = "an int" if whole else "a number"
        raise ConfigurationError(
            f"{name} must be {what} from {low:g} to {high:g}, got {check.short(value)}"
        )
    return value


def _settings(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The checked settings of updateProjectSettings, by their wire names."""
    body: dict[str, Any] = {}
    for name in ("prompt", "restriction", "model"):
        value = fields[name]
        if value is not None:
            if not isinstance(value, str):
                raise ConfigurationError(f"{name} must be a str, got {check.short(value)}")
            body[name] = value
    if fields["mode"] is not None:
        if fields["mode"] not in _MODES:
            raise ConfigurationError(f"mode must be 'agent' or 'chat', got {fields['mode']!r}")
        body["mode"] = fields["mode"]
    ranges = {
        "temperature": ("temperature", 0, 2, False),
        "chat_history_count": ("chat_history_count", 0, 50, True),
        "max_nodes": ("max_nodes", 1, 10, True),
        "auto_close_minutes": ("auto_close_duration", 5, 43200, True),
        "auto_resolve_minutes": ("auto_resolve_duration", 5, 43200, True),
    }
    for name, (wire, low, high, whole) in ranges.items():
        value = _number(name, fields[name], low, high, whole=whole)
        if value is not None:
            body[wire] = value
    link = fields["add_page_link"]
    if link is not None:
        if not isinstance(link, bool):
            raise ConfigurationError(f"add_page_link must be True or False, got {link!r}")
        body["add_page_link"] = int(link)
    return body


class Projects(Resource):
    """``yp.projects``: list, create and configure the organisation's projects."""

    @calls(GET_MY_PROJECTS)
    async def list(
        self,
        *,
        search: str | None = None,
        order: Literal["ASC", "DESC"] | None = None,
        page: int = 1,
        limit: int = 100,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[Project]:
        """Get one page of the projects this token can reach (its project scope applies).

        ``async for project in await yp.projects.list()`` goes through every page. Each
        project's ``widget_uid`` is what the Project Integration API's ``AsyncClient`` needs.

        Args:
            search: Only projects whose name contains this.
            order: ``"ASC"`` (the service's default, by id) or ``"DESC"``.
            page: The page number, from 1.
            limit: Projects per page, 1 to 100.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The page, with ``total``.
        """
        return await self._client._caller.page(
            GET_MY_PROJECTS,
            list_query(search=search, order=order),
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    @calls(CREATE_CHATBOT)
    async def create(
        self,
        name: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Project:
        """Create a project: a new chatbot with its own widget. Needs an owner's token.

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second project; with
        ``RetryPolicy(reconcile=True)`` it lists the projects by name to settle it instead.

        Args:
            name: The project's name.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The new project, with its ``project_uid`` and ``widget_uid``.
        """
        payload = {"name": check.text("name", name)}
        return await self._client._caller.call(CREATE_CHATBOT, payload, retry, timeout, priority)

    @calls(UPDATE_CHATBOT)
    async def update(
        self,
        project_uid: str,
        *,
        name: str | None = None,
        retention: timedelta | int | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Rename a project, or change how long it keeps conversations. Idempotent.

        Args:
            project_uid: The project.
            name: Its new name.
            retention: How long conversations are kept: a ``timedelta`` or whole seconds;
                ``0`` keeps them forever.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.
        """
        payload: dict[str, Any] = {"project_uid": check.uid("project_uid", project_uid)}
        if name is not None:
            payload["name"] = check.text("name", name)
        if retention is not None:
            payload["retention_duration"] = _retention(retention)
        if len(payload) == 1:
            raise ConfigurationError("nothing to update: pass name or retention")
        await self._client._caller.call(UPDATE_CHATBOT, payload, retry, timeout, priority)

    @calls(UPDATE_PROJECT_SETTINGS)
    async def update_settings(
        self,
        project_uid: str,
        *,
        prompt: str | None = None,
        restriction: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        mode: Literal["agent", "chat"] | None = None,
        chat_history_count: int | None = None,
        max_nodes: int | None = None,
        add_page_link: bool | None = None,
        auto_close_minutes: int | None = None,
        auto_resolve_minutes: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Change some of a project's AI settings; the others stay as they are. Idempotent.

        Args:
            project_uid: The project.
            prompt: The base prompt the AI follows.
            restriction: What the AI must not do or talk about.
            model: The AI model, a ``value`` from ``yp.models.list()`` (an unknown one is a
                :class:`~yourgpt_async.BadRequestError`).
            temperature: From 0 (focused) to 2 (inventive).
            mode: ``"agent"`` or ``"chat"``.
            chat_history_count: Earlier messages the AI sees, 0 to 50.
            max_nodes: Knowledge chunks the AI may draw on per answer, 1 to 10.
            add_page_link: Whether answers link the page they come from.
            auto_close_minutes: Minutes of silence before a conversation closes, 5 to 43,200.
            auto_resolve_minutes: Minutes before a conversation is marked resolved, 5 to 43,200.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.
        """
        settings = _settings(locals())
        if not settings:
            raise ConfigurationError("nothing to update: pass at least one setting")
        payload = {"project_uid": check.uid("project_uid", project_uid), **settings}
        await self._client._caller.call(UPDATE_PROJECT_SETTINGS, payload, retry, timeout, priority)


class Models(Resource):
    """``yp.models``: the AI models a project can use."""

    @calls(GET_SUPPORTED_MODELS)
    async def list(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> list[SupportedModel]:
        """The AI models a project can run on; pass a model's ``value`` to ``update_settings``.

        Args:
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.
        """
        found = await self._client._caller.call(GET_SUPPORTED_MODELS, {}, retry, timeout, priority)
        return list(found)

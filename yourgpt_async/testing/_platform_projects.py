"""The Platform API's projects: getMyProjects, createChatbot, updateChatbot,
updateProjectSettings and getSupportedModels, for an organisation's token."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .._endpoints import Family
from ..platform._projects import (
    CREATE_CHATBOT,
    GET_MY_PROJECTS,
    GET_SUPPORTED_MODELS,
    UPDATE_CHATBOT,
    UPDATE_PROJECT_SETTINGS,
)
from . import _params as read
from ._dispatch import handles
from ._params import Params, RequestError
from ._platform import QUOTA_REACHED, Platform, TokenCaller
from ._responses import success
from ._state import iso, now

__all__ = ["MODELS", "PlatformProjects"]

MODELS: Final = (
    ("GPT-4o mini", "gpt-4o-mini"),
    ("GPT-4o", "gpt-4o"),
    ("Claude Haiku", "claude-haiku"),
)
"""The models the emulator offers (label, value)."""

_SETTINGS: Final = {  # wire name: (low, high)
    "temperature": (0, 2),
    "chat_history_count": (0, 50),
    "max_nodes": (1, 10),
    "add_page_link": (0, 1),
    "auto_close_duration": (5, 43200),
    "auto_resolve_duration": (5, 43200),
}


def _number(params: Params, field: str, low: float, high: float) -> float | None:
    value = params.get(field)
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise read.invalid(field, f"{field} must be a number") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise read.invalid(field, f"{field} must be between {low} and {high}")
    return number


class PlatformProjects:
    """The projects of the token's organisation."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    @handles(GET_MY_PROJECTS, Family.PLATFORM)
    async def get_my_projects(self, params: Params, caller: TokenCaller) -> web.Response:
        search = (read.text(params, "search") or "").lower()
        order = read.order(params, "orderBy")
        page, limit = read.paging(params, default=100)
        records = read.by_id(
            (
                record
                for record in self._platform.projects.values()
                if caller.reaches(record) and search in record.name.lower()
            ),
            order,
        )
        items = [record.item(Platform.ORGANIZATION_ID, caller.token.role) for record in records]
        return success(
            "Data Fetched Successfully!", read.page_of(items, page, limit), total=len(items)
        )

    @handles(CREATE_CHATBOT, Family.PLATFORM)
    async def create_chatbot(self, params: Params, caller: TokenCaller) -> web.Response:
        caller.require(CREATE_CHATBOT)
        name = read.required(params, "name")
        limit = self._platform.limits.projects
        if limit is not None and len(self._platform.projects) >= limit:
            raise RequestError(403, QUOTA_REACHED)
        record = self._platform.create_project(name)
        self._platform.record(CREATE_CHATBOT, record.project_uid, name=name)
        data = {
            "id": record.id,
            "name": record.name,
            "project_uid": record.project_uid,
            "app_id": 5,
            "organization_id": Platform.ORGANIZATION_ID,
            "created_by": Platform.OWNER_ID,
            "widget_uid": record.widget_uid,
            "createdAt": iso(record.created_at),
            "updatedAt": iso(record.updated_at),
        }
        return success("Chatbot created successfully", data)

    @handles(UPDATE_CHATBOT, Family.PLATFORM)
    async def update_chatbot(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, UPDATE_CHATBOT)
        name = read.text(params, "name")
        retention = read.integer(
            params, "retention_duration", default=record.retention, minimum=0, maximum=None
        )
        if name is not None:
            if not name.strip():
                raise read.invalid("name", "name must not be empty")
            record.name = name
        record.retention = retention
        record.updated_at = now()
        return success("Chatbot updated successfully", None)

    @handles(UPDATE_PROJECT_SETTINGS, Family.PLATFORM)
    async def update_project_settings(self, params: Params, caller: TokenCaller) -> web.Response:
        record = caller.project(params, UPDATE_PROJECT_SETTINGS)
        changes: dict[str, object] = {}
        for field in ("prompt", "restriction"):
            value = read.text(params, field)
            if value is not None:
                changes[field] = value
        model = read.text(params, "model")
        if model is not None:
            if model not in {value for _, value in MODELS}:
                raise read.invalid("model", "model is not supported")
            changes["model"] = model
        mode = read.choice(params, "mode", ("agent", "chat"))
        if mode is not None:
            changes["mode"] = mode
        for field, (low, high) in _SETTINGS.items():
            number = _number(params, field, low, high)
            if number is not None:
                changes[field] = number
        if not changes:
            raise read.InvalidParams({"project_uid": "nothing to update"})
        record.settings.update(changes)
        record.updated_at = now()
        return success("Project settings updated successfully", None)

    @handles(GET_SUPPORTED_MODELS, Family.PLATFORM)
    async def get_supported_models(self, params: Params, caller: TokenCaller) -> web.Response:
        models = [{"label": label, "value": value} for label, value in MODELS]
        return success("Data Fetched Successfully!", models)

"""The Platform API's training and playground: texts and FAQs, files fetched from a URL (which
move from processing to done on the emulator's clock), and playground sessions whose answers
spend the organisation's credits."""

from __future__ import annotations

import itertools
import posixpath
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs
from aiohttp import web

from .._endpoints import Family
from ..platform._playground import (
    CREATE_PLAYGROUND_SESSION,
    MAX_PREVIOUS_CHAT,
    PLAYGROUND_RESPONSE,
)
from ..platform._training import (
    CREATE_PROJECT_TEXT,
    DELETE_FILE,
    FILE_TYPES,
    GET_PROJECT_FILES,
    GET_PROJECT_TEXT,
    UPLOAD_FILE,
    file_name,
)
from . import _params as read
from ._dispatch import handles
from ._params import Params, RequestError
from ._platform import QUOTA_REACHED, Platform, ProjectRecord, TokenCaller
from ._platform_projects import MODELS
from ._responses import error, success
from ._state import iso, now

__all__ = ["CREDITS", "FILE_PROCESSING_SECONDS", "PlatformTraining", "joined"]

FILE_PROCESSING_SECONDS: Final = 3.0
"""Seconds (on the emulator's clock) an uploaded file stays ``processing`` before ``done``."""
CREDITS: Final = {"gpt-4o-mini": 1.0, "claude-haiku": 2.0, "gpt-4o": 5.0}
"""The credits one playground answer spends, by model (the project's, unless overridden); a
model of ``MODELS`` not named here spends 1."""
_DEFAULT_MODEL: Final = "gpt-4o-mini"
_MAX_QUERY: Final = 5000


def joined(tags: str | Iterable[str] | None) -> str | None:
    """Tags as the service stores them: comma-separated, or ``None`` for none."""
    if tags is None or isinstance(tags, str):
        return tags or None
    return ",".join(tags) or None


def _tag_set(value: str | None) -> set[str]:
    return {tag.strip().lower() for tag in (value or "").split(",") if tag.strip()}


@attrs.define
class TextRecord:
    """A training text or FAQ of a project."""

    id: int
    project: ProjectRecord
    type: str
    short_text: str | None
    detail: str
    tags: str | None
    created_at: datetime

    def item(self) -> dict[str, object]:
        """The text as createProjectText and getProjectText show it."""
        return {
            "id": self.id,
            "project_id": self.project.id,
            "short_text": self.short_text,
            "detail": self.detail,
            "type": self.type,
            "status": "completed",
            "tags": self.tags,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
        }


@attrs.define
class FileRecord:
    """A training file of a project; ``done_at`` is when, on the emulator's clock, training on
    it ends (a ``status`` set when seeding stays as set)."""

    id: int
    project: ProjectRecord
    name: str
    tags: str | None
    extra_settings: Mapping[str, object] | None
    created_at: datetime
    done_at: float
    status: str | None = None

    def state(self, clock: float) -> str:
        """``processing`` until ``done_at``, then ``done``."""
        if self.status is not None:
            return self.status
        return "done" if clock >= self.done_at else "processing"

    def item(self, clock: float) -> dict[str, object]:
        """The file as getProjectFiles lists it."""
        return {
            "id": self.id,
            "project_id": self.project.id,
            "name": self.name,
            "status": self.state(clock),
            "size": 2048 * (len(self.name) + 1),
            "tags": self.tags,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
        }


def _json_field(params: Params, field: str, kind: type) -> Any:
    """A field holding a JSON object or list, sent as itself or (in a form) as JSON text."""
    what = "an object" if kind is dict else "a list"
    bad = read.InvalidParams({field: f"{field} must be {what}"})
    value = read.json_field(params, field, bad)
    if value is not None and not isinstance(value, kind):
        raise bad
    return value


def _text_fields(params: Params) -> tuple[str, str, str | None]:
    """createProjectText's type, detail and short_text, every problem with them at once."""
    problems: dict[str, str] = {}
    kind = (read.text(params, "type") or "").strip()
    if kind not in ("faq", "text"):
        problems["type"] = "type must be one of faq, text" if kind else "type is required"
    detail = read.text(params, "detail") or ""
    if not detail.strip():
        problems["detail"] = "detail is required"
    short_text = read.text(params, "short_text") or None
    if kind == "faq" and not (short_text or "").strip():
        problems["short_text"] = "short_text is required"
    if problems:
        raise read.InvalidParams(problems)
    return kind, detail, short_text


def _page(params: Params) -> tuple[int, int, str]:
    return (*read.paging(params), read.order(params, "orderBy", default="DESC"))


class PlatformTraining:
    """Training texts, FAQs and files, and the playground, of the organisation's projects."""

    def __init__(self, platform: Platform, clock: Callable[[], float]) -> None:
        self._platform = platform
        self._clock = clock
        self.texts: list[TextRecord] = []
        self.files: list[FileRecord] = []
        self.playground: dict[str, ProjectRecord] = {}  # session_uid -> its project
        self._text_ids = itertools.count(2001)
        self._file_ids = itertools.count(7301)
        self._session_ids = itertools.count(1910700)
        self._session_uids = itertools.count(17226099990000001)

    # -- what handlers and seeding share ------------------------------------------------------

    def _quota(self, limit: int | None, count: int) -> None:
        if limit is not None and count >= limit:
            raise RequestError(403, QUOTA_REACHED)

    def add_text(
        self,
        project: ProjectRecord,
        kind: str,
        detail: str,
        short_text: str | None,
        tags: str | None,
    ) -> TextRecord:
        """Store a text or FAQ (the plan's limit is the caller's to check)."""
        record = TextRecord(next(self._text_ids), project, kind, short_text, detail, tags, now())
        self.texts.append(record)
        return record

    def add_file(
        self,
        project: ProjectRecord,
        name: str,
        tags: str | None,
        extra_settings: Mapping[str, object] | None,
        status: str | None = None,
    ) -> FileRecord:
        """Store a file, processing for ``FILE_PROCESSING_SECONDS`` unless ``status`` is set."""
        done_at = self._clock() + FILE_PROCESSING_SECONDS
        record = FileRecord(
            next(self._file_ids), project, name, tags, extra_settings, now(), done_at, status
        )
        self.files.append(record)
        return record

    def _of(self, project: ProjectRecord, records: list[Any]) -> list[Any]:
        return [record for record in records if record.project is project]

    # -- training -----------------------------------------------------------------------------

    @handles(CREATE_PROJECT_TEXT, Family.PLATFORM)
    async def create_project_text(self, params: Params, caller: TokenCaller) -> web.Response:
        project = caller.project(params, CREATE_PROJECT_TEXT)
        kind, detail, short_text = _text_fields(params)
        tags = read.text(params, "tags") or None
        self._quota(self._platform.limits.texts, len(self._of(project, self.texts)))
        record = self.add_text(project, kind, detail, short_text, tags)
        fields = {"type": kind, "short_text": short_text, "detail": detail}
        self._platform.record(CREATE_PROJECT_TEXT, project.project_uid, **fields)
        return success("Data Created Successfully!", record.item())

    @handles(GET_PROJECT_TEXT, Family.PLATFORM)
    async def get_project_text(self, params: Params, caller: TokenCaller) -> web.Response:
        project = caller.project(params, GET_PROJECT_TEXT)
        kind = read.choice(params, "type", ("faq", "text"))
        if kind is None:
            raise read.InvalidParams({"type": "type is required"})
        page, limit, order = _page(params)
        search = (read.text(params, "search") or "").lower()
        wanted = _tag_set(read.text(params, "tags"))
        found = [
            record
            for record in self._of(project, self.texts)
            if record.type == kind
            and (search in (record.short_text or "").lower() or search in record.detail.lower())
            and (not wanted or wanted & _tag_set(record.tags))
        ]
        rows = [record.item() for record in read.by_id(found, order)]
        data = {"count": len(rows), "rows": read.page_of(rows, page, limit)}
        return success("Data Fetched Successfully!", data)

    @handles(UPLOAD_FILE, Family.PLATFORM)
    async def upload_file(self, params: Params, caller: TokenCaller) -> web.Response:
        project = caller.project(params, UPLOAD_FILE)
        url = read.text(params, "file_url")
        if url is None or not url.strip():
            raise read.InvalidParams({"file_url": "file_url is required"})
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise read.InvalidParams({"file_url": "file_url must be a valid URL"})
        extension = posixpath.splitext(parts.path)[1].lower().lstrip(".")
        if extension not in FILE_TYPES:
            supported = ", ".join(FILE_TYPES)
            return error(
                400, "Unsupported file type", errors={"file_url": f"Supported: {supported}"}
            )
        settings = _json_field(params, "extra_settings", dict)
        tags = read.text(params, "tags") or None
        self._quota(self._platform.limits.files, len(self._of(project, self.files)))
        record = self.add_file(project, file_name(url.strip()), tags, settings)
        self._platform.record(UPLOAD_FILE, project.project_uid, name=record.name, file_url=url)
        data = {
            "id": record.id,
            "project_id": project.id,
            "user_id": Platform.OWNER_ID,
            "name": record.name,
            "extra_settings": settings,
            "created_at": iso(record.created_at),
            "updated_at": iso(record.created_at),
        }
        return success("File uploaded successfully", data)

    @handles(GET_PROJECT_FILES, Family.PLATFORM)
    async def get_project_files(self, params: Params, caller: TokenCaller) -> web.Response:
        project = caller.project(params, GET_PROJECT_FILES)
        page, limit, order = _page(params)
        status = read.text(params, "status") or None
        wanted = _tag_set(read.text(params, "tags"))
        clock = self._clock()
        found = [
            record
            for record in self._of(project, self.files)
            if status in (None, record.state(clock))
            and (not wanted or wanted & _tag_set(record.tags))
        ]
        items = [record.item(clock) for record in read.by_id(found, order)]
        return success(
            "Data Fetched Successfully!", read.page_of(items, page, limit), total=len(items)
        )

    @handles(DELETE_FILE, Family.PLATFORM)
    async def delete_file(self, params: Params, caller: TokenCaller) -> web.Response:
        project = caller.project(params, DELETE_FILE)
        file_id = read.record_id(params, "id")
        if file_id is None:
            raise read.InvalidParams({"id": "id is required"})
        record = next((f for f in self._of(project, self.files) if f.id == file_id), None)
        if record is None:
            raise RequestError(404, "Not found")
        self.files.remove(record)
        self._platform.record(DELETE_FILE, project.project_uid, id=file_id)
        return success("File deleted successfully", None)

    # -- playground ---------------------------------------------------------------------------

    @handles(CREATE_PLAYGROUND_SESSION, Family.PLATFORM)
    async def create_playground_session(self, params: Params, caller: TokenCaller) -> web.Response:
        project = caller.project(params, CREATE_PLAYGROUND_SESSION)
        session_uid = next(self._session_uids)
        self.playground[str(session_uid)] = project
        self._platform.record(
            CREATE_PLAYGROUND_SESSION, project.project_uid, session_uid=str(session_uid)
        )
        data = {
            "session_uid": session_uid,  # a bare number above 2**53, as the service sends it
            "id": next(self._session_ids),
            "project_id": project.id,
            "is_emulator": True,
        }
        return success("Session created successfully", data)

    @handles(PLAYGROUND_RESPONSE, Family.PLATFORM)
    async def playground_response(self, params: Params, caller: TokenCaller) -> web.Response:
        project = caller.project(params, PLAYGROUND_RESPONSE)
        session_uid = read.required(params, "session_uid")
        query = read.required(params, "query")
        problems = {}
        if len(query) > _MAX_QUERY:
            problems["query"] = f"query must be at most {_MAX_QUERY} characters"
        setting = _json_field(params, "agent_setting", dict) or {}
        previous = _json_field(params, "previous_chat", list) or []
        if len(previous) > MAX_PREVIOUS_CHAT:
            problems["previous_chat"] = f"previous_chat must hold at most {MAX_PREVIOUS_CHAT} turns"
        model = setting.get("model") or project.settings.get("model") or _DEFAULT_MODEL
        if model not in {value for _, value in MODELS}:
            problems["agent_setting"] = "model is not supported"
        if problems:
            raise read.InvalidParams(problems)
        if self.playground.get(session_uid) is not project:
            raise RequestError(404, "Not found")
        cost = CREDITS.get(model, 1.0)
        limits = self._platform.limits
        if limits.credits is not None:
            if limits.credits < cost:
                raise RequestError(403, QUOTA_REACHED)
            limits.credits -= cost
        self._platform.record(
            PLAYGROUND_RESPONSE, project.project_uid, session_uid=session_uid, query=query
        )
        data = {
            "session_uid": int(session_uid) if session_uid.isdigit() else session_uid,
            "message": f"You asked: {query}",
            "response_time": 400 + 10 * len(query.split()),
            "total_credits": cost,
        }
        return success("Response generated successfully", data)

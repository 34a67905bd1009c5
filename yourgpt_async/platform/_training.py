"""What a project's bot is trained on: texts, FAQs and files (``yp.project(uid).training``)."""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any, Final, Literal

from yarl import URL

from .. import _validate as check
from .._calls import Timeout
from .._config import RetryPolicy
from .._endpoints import Endpoint, Family, Safety, declare
from .._exceptions import ConfigurationError
from .._reconcile import FindBy
from .._replies import listing, nothing, one
from .._resource import calls
from ..bulk import BulkRun, BulkSummary, FaqItem, FileItem, TextItem, TrainingInput
from ..bulk._items import BAD_KEY, generated_key, own_key, refused
from ..bulk._kind import BadRecord, BulkKind, Prepared
from ..bulk._platform_items import TRAINING_ROWS, training_item
from ..bulk._start import start_run
from ..types import Page, Priority, TrainingFile, TrainingText
from ._base import ProjectResource, list_query
from ._base import tags as tag_names

__all__ = ["FILE_TYPES", "TRAINING_ITEMS", "Training", "file_name"]

FILE_TYPES: Final = (
    "txt", "pdf", "doc", "docx", "ppt", "pptx", "csv", "json", "jsonl", "xlsx", "xls",
)  # fmt: skip
"""The file extensions the service trains on (``upload_file`` checks the URL's path for one)."""

_TEXT_TYPES: Final = ("faq", "text")


def file_name(file_url: str) -> str:
    """The name the service gives a file fetched from ``file_url``: its path's last part."""
    return urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(file_url).path))


def _text_search(payload: Mapping[str, Any]) -> dict[str, Any]:
    """getProjectText's query finding what a createProjectText payload made, newest first:
    searched for by its question or title. A text without one is looked for among the newest
    of its type, unsearched: no page says whether ``search`` reads ``detail``, and a search
    that missed it would make the read-back send it again."""
    query = {"project_uid": payload["project_uid"], "type": payload["type"], "orderBy": "DESC"}
    if payload.get("short_text"):
        query["search"] = payload["short_text"]
    return query


def _same_text(item: TrainingText, payload: Mapping[str, Any]) -> bool:
    return (
        item.type == payload["type"]
        and (item.short_text or "") == (payload.get("short_text") or "")
        and item.detail == payload["detail"]
    )


GET_PROJECT_TEXT: Final = declare(
    "getProjectText",
    safety=Safety.READ,
    reply=listing(TrainingText),
    families=Family.PLATFORM,
    summary="List a project's training texts or FAQs, a page at a time.",
    permission="Training › Read",
)
CREATE_PROJECT_TEXT: Final = declare(
    "createProjectText",
    safety=Safety.CREATE,
    reply=one(TrainingText),
    families=Family.PLATFORM,
    summary="Train a project's bot on a text or an FAQ.",
    permission="Training › Write",
    reconcile=FindBy.factory(GET_PROJECT_TEXT, query=_text_search, same=_same_text),
    check="look for it with training.list_texts(type, search=...) before adding it again",
)
GET_PROJECT_FILES: Final = declare(
    "getProjectFiles",
    safety=Safety.READ,
    reply=listing(TrainingFile),
    families=Family.PLATFORM,
    summary="List a project's training files, a page at a time.",
    permission="Training › Read",
)
UPLOAD_FILE: Final = declare(
    "uploadFile",
    safety=Safety.CREATE,
    reply=one(TrainingFile),
    families=Family.PLATFORM,
    summary="Train a project's bot on a file the service fetches from a URL.",
    permission="Training › Write",
    reconcile=FindBy.factory(
        GET_PROJECT_FILES,
        query=lambda payload: {"project_uid": payload["project_uid"], "orderBy": "DESC"},
        same=lambda item, payload: item.name == file_name(payload["file_url"]),
    ),
    check="look for it with training.list_files() before uploading it again",
)
DELETE_FILE: Final = declare(
    "deleteFile",
    safety=Safety.DELETE,
    reply=nothing(),
    families=Family.PLATFORM,
    summary="Delete a project's training file.",
    permission="Training › Write",
)


def _file_url(value: object, name: str = "file_url") -> str:
    """An absolute http(s) URL whose path ends with a file type the service trains on."""
    expected = (
        "an absolute http(s) URL the service can fetch, whose path ends with one of "
        + ", ".join("." + kind for kind in FILE_TYPES)
    )
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be {expected}; got {check.short(value)}")
    try:
        url = URL(value.strip())
    except (ValueError, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"{name} must be {expected}; got {check.short(value)}")
    extension = posixpath.splitext(url.path)[1].lower().lstrip(".")
    if extension not in FILE_TYPES:
        what = f"'.{extension}'" if extension else "no file extension"
        raise ConfigurationError(
            f"{name} must be {expected}; got {check.short(value)}, whose path has {what}"
        )
    return value.strip()


def _text_type(value: object) -> str:
    if isinstance(value, str) and value.lower() in _TEXT_TYPES:
        return value.lower()
    raise ConfigurationError(f"type must be 'faq' or 'text', got {check.short(value)}")


def _optional_text(name: str, value: object) -> str | None:
    return None if value is None else check.text(name, value)


# What add_text, add_faq and upload_file send (less the project), checked as they check it, for
# them and for add_many: ``None`` where not given. Bulk item keys hash these values in this order.


def _text_fields(text: object, title: object, tags: object) -> dict[str, Any]:
    return {
        "type": "text",
        "detail": check.text("text", text),
        "short_text": _optional_text("title", title),
        "tags": tag_names(tags),
    }


def _faq_fields(question: object, answer: object, tags: object) -> dict[str, Any]:
    return {
        "type": "faq",
        "short_text": check.text("question", question),
        "detail": check.text("answer", answer),
        "tags": tag_names(tags),
    }


def _file_fields(file_url: object, tags: object, name: str = "file_url") -> dict[str, Any]:
    return {"file_url": _file_url(file_url, name), "tags": tag_names(tags)}


class Training(ProjectResource):
    """``project.training``: add and list texts and FAQs, upload, list and delete files.

    Each added text, FAQ or file is trained on by the project's bot; the plan caps how many a
    project holds (past it, :class:`~yourgpt_async.QuotaExceededError`). Needs a token with
    Training › Write to add or delete and Training › Read to list (or an owner's or editor's).
    """

    @calls(CREATE_PROJECT_TEXT)
    async def add_text(
        self,
        text: str,
        *,
        title: str | None = None,
        tags: list[str] | str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> TrainingText:
        """Train the bot on a text: anything it should know and answer from.

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second copy; with
        ``RetryPolicy(reconcile=True)`` it searches the project's texts to settle it instead.

        Args:
            text: The text.
            title: A title for it.
            tags: Tags, as a list of names or one comma-separated ``str``.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The stored text (``type`` ``"text"``).
        """
        payload = self._payload(**_text_fields(text, title, tags))
        return await self._client._caller.call(
            CREATE_PROJECT_TEXT, payload, retry, timeout, priority
        )

    @calls(CREATE_PROJECT_TEXT)
    async def add_faq(
        self,
        question: str,
        answer: str,
        *,
        tags: list[str] | str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> TrainingText:
        """Train the bot on a question and its answer.

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second copy; with
        ``RetryPolicy(reconcile=True)`` it searches the project's FAQs to settle it instead.

        Args:
            question: The question, as a visitor would ask it.
            answer: The answer the bot should give.
            tags: Tags, as a list of names or one comma-separated ``str``.
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The stored FAQ (``type`` ``"faq"``; ``question`` and ``answer`` read it).
        """
        payload = self._payload(**_faq_fields(question, answer, tags))
        return await self._client._caller.call(
            CREATE_PROJECT_TEXT, payload, retry, timeout, priority
        )

    @calls(GET_PROJECT_TEXT)
    async def list_texts(
        self,
        type: Literal["faq", "text"],
        *,
        search: str | None = None,
        tags: list[str] | str | None = None,
        order: Literal["ASC", "DESC"] | None = None,
        page: int = 1,
        limit: int = 10,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[TrainingText]:
        """Get one page of the project's FAQs or texts.

        ``async for text in await bot.training.list_texts("faq")`` goes through every page.

        Args:
            type: ``"faq"`` or ``"text"``: which kind to list.
            search: Only those containing this.
            tags: Only those with these tags (a list of names or a comma-separated ``str``).
            order: ``"DESC"`` (the service's default, newest first) or ``"ASC"``.
            page: The page number, from 1.
            limit: Items per page, 1 to 100.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The page, with ``total`` (the service's ``count``).
        """
        query = list_query(search=search, order=order, type=_text_type(type), tags=tag_names(tags))
        return await self._client._caller.page(
            GET_PROJECT_TEXT,
            self._payload(**query),
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    @calls(UPLOAD_FILE)
    async def upload_file(
        self,
        file_url: str,
        *,
        tags: list[str] | str | None = None,
        extra_settings: Mapping[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> TrainingFile:
        """Train the bot on a file the service fetches from a public URL.

        The service takes ``.txt``, ``.pdf``, ``.doc``, ``.docx``, ``.ppt``, ``.pptx``,
        ``.csv``, ``.json``, ``.jsonl``, ``.xlsx`` and ``.xls`` files; the URL's path is
        checked for one of these before any request. The file is
        ``"processing"`` at first and ``"done"`` once trained on (see :meth:`list_files`).

        Not idempotent: after an ambiguous failure it raises
        :class:`~yourgpt_async.DeliveryUnknownError` rather than risk a second copy; with
        ``RetryPolicy(reconcile=True)`` it lists the project's files by name to settle it
        instead.

        Args:
            file_url: An absolute ``http://`` or ``https://`` URL whose path ends with the
                file's type (``https://example.com/handbook.pdf``).
            tags: Tags, as a list of names or one comma-separated ``str``.
            extra_settings: Settings for the file, as JSON (``{"enable_citation": True}``).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The file as stored (its ``id`` is what :meth:`delete_file` takes).
        """
        settings = None
        if extra_settings is not None:
            settings = check.json_object("extra_settings", extra_settings)
        payload = self._payload(**_file_fields(file_url, tags), extra_settings=settings)
        return await self._client._caller.call(UPLOAD_FILE, payload, retry, timeout, priority)

    @calls(GET_PROJECT_FILES)
    async def list_files(
        self,
        *,
        status: str | None = None,
        tags: list[str] | str | None = None,
        order: Literal["ASC", "DESC"] | None = None,
        page: int = 1,
        limit: int = 10,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> Page[TrainingFile]:
        """Get one page of the project's training files.

        ``async for file in await bot.training.list_files()`` goes through every page.

        Args:
            status: Only files in this state (``"processing"``, ``"done"``).
            tags: Only files with these tags (a list of names or a comma-separated ``str``).
            order: ``"DESC"`` (the service's default, newest first) or ``"ASC"``.
            page: The page number, from 1.
            limit: Files per page, 1 to 100.
            retry: Overrides the client's retry policy for this call (and later pages').
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Returns:
            The page, with ``total``.
        """
        status = _optional_text("status", status)
        query = list_query(order=order, status=status, tags=tag_names(tags))
        return await self._client._caller.page(
            GET_PROJECT_FILES,
            self._payload(**query),
            page=page,
            limit=limit,
            retry=retry,
            timeout=timeout,
            priority=priority,
        )

    @calls(DELETE_FILE)
    async def delete_file(
        self,
        file_id: int,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        priority: Priority | str | None = None,
    ) -> None:
        """Delete a training file; the bot no longer answers from it.

        Safe to retry: a retry that finds the file gone, after an attempt that may have
        deleted it, counts as done.

        Args:
            file_id: The file's ``id`` (from :meth:`upload_file` or :meth:`list_files`).
            retry: Overrides the client's retry policy for this call.
            timeout: Overrides the client's timeouts for this call: seconds or a ``Timeouts``.
            priority: ``"interactive"`` or ``"bulk"``; defaults to the view's, else interactive.

        Raises:
            NotFoundError: No such file in the project.
        """
        if isinstance(file_id, bool) or not isinstance(file_id, int) or file_id < 1:
            raise ConfigurationError(
                f"file_id must be a file's id, an int of at least 1, got {check.short(file_id)}"
            )
        payload = self._payload(id=file_id)
        await self._client._caller.call(DELETE_FILE, payload, retry, timeout, priority)

    def add_many(
        self,
        items: Iterable[TrainingInput] | AsyncIterable[TrainingInput],
        *,
        concurrency: int | None = None,
        journal: str | os.PathLike[str] | None = None,
        progress: Callable[[BulkSummary], object] | None = None,
        ordered: bool = False,
        resend_in_doubt: bool = False,
        priority: Priority | str = Priority.BULK,
    ) -> BulkRun[FaqItem | TextItem | FileItem, TrainingText | TrainingFile]:
        """Add many FAQs, texts and files, at most ``concurrency`` at a time, and yield each
        one's outcome: an import from a spreadsheet, say.

        Each item is added as :meth:`add_faq`, :meth:`add_text` or :meth:`upload_file` adds
        it, checked the same way before its request, and gets one outcome: :class:`Sent`
        (``reply``: the stored :class:`TrainingText` or :class:`TrainingFile`), :class:`Failed`
        or :class:`InDoubt`. A bad item never stops the run; a spent plan quota, a refused
        token or a missing permission does (:attr:`BulkRun.stopped_by`), since no later item
        could be added, and a later run with the same ``journal`` adds the rest::

            async with bot.training.add_many(csv.DictReader(file), journal="faqs.journal") as run:
                async for outcome in run:
                    ...

        Args:
            items: :class:`FaqItem`, :class:`TextItem` and :class:`FileItem` s, or mappings
                (``csv.DictReader`` rows, JSON objects) with ``question`` and ``answer``,
                ``text`` (and ``title``) or ``url``, each with ``tags`` and ``key`` optional.
            concurrency: Most items in flight at once (default: ``max_concurrency``).
            journal: A file to record progress in and to resume from (created if absent): a
                killed run resumes without adding an item twice.
            progress: Called with a :class:`BulkSummary` at most every 0.1 s, and at the end.
            ordered: Yield outcomes in input order instead of as they complete.
            resend_in_doubt: On resume, add again what an earlier run left in doubt (some may
                then be there twice). With ``reconcile=True`` in the retry policy, the project
                is read back first: found, ``Sent`` (``settled``); missing, added.
            priority: The items' :class:`Priority`: bulk, so that interactive calls go first.

        Returns:
            The run: an async iterator of outcomes and an async context manager.
        """
        return start_run(
            TRAINING_ITEMS,
            self._client._caller,
            items,
            fields={"project_uid": self._project_uid},
            concurrency=self._client._max_concurrency if concurrency is None else concurrency,
            priority=priority,
            ordered=ordered,
            journal=journal,
            progress=progress,
            resend_in_doubt=resend_in_doubt,
        )


# -- bulk: training.add_many ---------------------------------------------------------------

TrainingItem = FaqItem | TextItem | FileItem
_PLACEHOLDER: Final = TextItem(text="")


def _names(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value.split(","))


def _training_call(item: TrainingItem) -> tuple[Endpoint[Any], dict[str, Any], TrainingItem]:
    """The endpoint and payload of an item (without the project), and the item normalised;
    raises ConfigurationError as ``add_faq``, ``add_text`` or ``upload_file`` would."""
    normalised: TrainingItem
    endpoint: Endpoint[Any] = CREATE_PROJECT_TEXT
    if isinstance(item, FaqItem):
        fields = _faq_fields(item.question, item.answer, item.tags)
        names = _names(fields["tags"])
        normalised = FaqItem(fields["short_text"], fields["detail"], names, item.key)
    elif isinstance(item, TextItem):
        fields = _text_fields(item.text, item.title, item.tags)
        names = _names(fields["tags"])
        normalised = TextItem(fields["detail"], fields["short_text"], names, item.key)
    else:
        fields = _file_fields(item.url, item.tags, "url")
        normalised = FileItem(fields["file_url"], _names(fields["tags"]), item.key)
        endpoint = UPLOAD_FILE
    return endpoint, {k: v for k, v in fields.items() if v is not None}, normalised


def _prepare(raw: object, index: int) -> Prepared[TrainingItem]:
    """One input of ``add_many`` made a checked call with its key; a bad one, its error."""
    try:
        item = training_item(raw)
    except BadRecord as error:
        return refused(
            index, _PLACEHOLDER, generated_key(index, type(raw).__qualname__), str(error)
        )
    own = own_key(item.key)
    try:
        endpoint, payload, item = _training_call(item)
    except ConfigurationError as error:
        return refused(index, item, own or generated_key(index, repr(item)), error.message)
    content = "\x1f".join((endpoint.name, *map(str, payload.values())))
    key = own or generated_key(index, content)
    if item.key is not None and own is None:
        return refused(index, item, key, f"{BAD_KEY}; got {check.short(item.key)}")
    return Prepared(index, item, key, endpoint, payload)


def _own_key(raw: object) -> str | None:
    key = raw.get("key") if isinstance(raw, Mapping) else getattr(raw, "key", None)
    return own_key(key)


TRAINING_ITEMS: Final = BulkKind[TrainingItem, TrainingText | TrainingFile](
    what="training item",
    accepts="FaqItem, TextItem, FileItem or mappings",
    prepare=_prepare,
    own_key=_own_key,
    result=lambda prepared, reply: reply,
    result_id=lambda reply: reply.id,
    done="added",
    check="Look for it (training.list_texts(type, search=...) or training.list_files()) before "
    "adding it again, or resume with resend_in_doubt=True to add it again at the risk of a "
    "duplicate; with RetryPolicy(reconcile=True) a resumed run looks for you",
    placeholder=_PLACEHOLDER,
    rows=TRAINING_ROWS,
)
"""createProjectText (FAQs and texts) and uploadFile, for ``add_many`` and ``train import``."""

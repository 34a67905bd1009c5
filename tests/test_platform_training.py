"""project.training over real loopback HTTP: texts, FAQs and files against the emulator (search,
tags, order, pages, plan limits, permissions, files processing on the emulator's clock, deletes
and read-backs), the exact wire format and each reply shape against a small server of the test's
own, and the tags hook of the converter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timezone
from typing import Any

import aiohttp
import pytest
from _fakes import FakeClock, policy
from _recording_server import TOKEN, RecordingServer, platform_client

from yourgpt_async import (
    AsyncPlatformClient,
    BadRequestError,
    ConfigurationError,
    DeliveryUnknownError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimit,
    TrainingFile,
    TrainingText,
)
from yourgpt_async._converter import converter, make_converter
from yourgpt_async.platform import ProjectView, Training
from yourgpt_async.platform._training import _text_search
from yourgpt_async.testing import Emulator, Fault, Token

QUESTION = "Do you ship to Norway?"
ANSWER = "Yes, in 3-5 days."
FILE_URL = "https://example.com/docs/handbook.pdf"


@pytest.fixture
async def yp(emu: Emulator, fake_clock: FakeClock) -> AsyncIterator[AsyncPlatformClient]:
    """A platform client with the emulator's owner token, retrying on the fake clock."""
    async with AsyncPlatformClient(
        emu.api_token,
        base_url=emu.base_url,
        retry=policy(fake_clock),
        rate_limit=RateLimit.unlimited(),
    ) as client:
        yield client


@pytest.fixture
def bot(yp: AsyncPlatformClient, emu: Emulator) -> ProjectView:
    """The view of the emulator's first project."""
    return yp.project(emu.project_uid)


def reconciling(yp: AsyncPlatformClient, emu: Emulator, fake: FakeClock) -> Training:
    """The first project's training, through a view of ``yp`` whose policy reconciles."""
    view = yp.with_options(retry=policy(fake, reconcile=True))
    return view.project(emu.project_uid).training


def client_of(emu: Emulator, token: Token) -> AsyncPlatformClient:
    """A client of ``token``, which the emulator is told of."""
    emu.tokens[token.secret] = token
    return AsyncPlatformClient(
        token.secret, base_url=emu.base_url, rate_limit=RateLimit.unlimited()
    )


# -- texts and FAQs -----------------------------------------------------------------------------


async def test_add_faq_returns_the_stored_faq_and_records_one_write(
    bot: ProjectView, emu: Emulator
) -> None:
    """add_faq stores the question and answer with their tags, once, and returns them."""
    faq = await bot.training.add_faq(QUESTION, ANSWER, tags=["shipping", "nordics"])
    assert isinstance(faq, TrainingText)
    assert (faq.type, faq.question, faq.answer, faq.status) == (
        "faq",
        QUESTION,
        ANSWER,
        "completed",
    )
    assert faq.short_text == faq.title == QUESTION
    assert faq.tags == ("shipping", "nordics")
    assert faq.raw["tags"] == "shipping,nordics"
    assert faq.created_at is not None
    assert faq.created_at.tzinfo == timezone.utc
    assert emu.written("createProjectText", short_text=QUESTION, detail=ANSWER, type="faq") == 1
    assert [write.project_uid for write in emu.writes] == [emu.project_uid]


async def test_add_text_with_and_without_a_title(bot: ProjectView) -> None:
    """add_text sends the text as detail and the title, when given, as short_text."""
    titled = await bot.training.add_text("We ship worldwide.", title="Shipping", tags="a, b")
    bare = await bot.training.add_text("Returns within 30 days.")
    assert (titled.type, titled.title, titled.text, titled.tags) == (
        "text", "Shipping", "We ship worldwide.", ("a", "b"),
    )  # fmt: skip
    assert (bare.type, bare.title, bare.text, bare.tags) == (
        "text", None, "Returns within 30 days.", (),
    )  # fmt: skip


async def test_list_texts_filters_by_type_search_and_tags(bot: ProjectView, emu: Emulator) -> None:
    """list_texts lists one type only; search matches either field in any case; tags match
    any of those asked for."""
    emu.add_training_text(ANSWER, short_text=QUESTION, type="faq", tags=["shipping"])
    emu.add_training_text("Free returns.", short_text="Returns?", type="faq", tags="returns,vip")
    emu.add_training_text("Norway is served by post.")
    faqs = await bot.training.list_texts("faq")
    assert [text.question for text in faqs] == ["Returns?", QUESTION]  # newest first
    assert faqs.total == 2
    found = await bot.training.list_texts("faq", search="NORWAY")
    assert [text.question for text in found] == [QUESTION]
    texts = await bot.training.list_texts("text", search="norway")
    assert [text.text for text in texts] == ["Norway is served by post."]
    tagged = await bot.training.list_texts("faq", tags=["vip", "nothing"])
    assert [text.question for text in tagged] == ["Returns?"]
    assert tagged.items[0].tags == ("returns", "vip")


async def test_list_texts_pages_in_either_order(bot: ProjectView, emu: Emulator) -> None:
    """Pages of list_texts hold the asked slice with the count as total, ASC or DESC, and
    async iteration walks every page."""
    for number in range(5):
        emu.add_training_text(f"answer {number}", short_text=f"question {number}", type="faq")
    second = await bot.training.list_texts("faq", order="asc", page=2, limit=2)
    assert [text.question for text in second] == ["question 2", "question 3"]
    assert (second.total, second.has_more) == (5, True)
    every = [text.question async for text in await bot.training.list_texts("faq", limit=2)]
    assert every == [f"question {number}" for number in (4, 3, 2, 1, 0)]


async def test_texts_of_other_projects_are_not_listed(bot: ProjectView, emu: Emulator) -> None:
    """A project lists only its own texts."""
    other = next(p.project_uid for p in emu.projects if p.project_uid != emu.project_uid)
    emu.add_training_text("elsewhere", project_uid=other)
    assert (await bot.training.list_texts("text")).items == ()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.add_text("   "), "text must be a non-blank str"),
        (lambda t: t.add_text("x", title=""), "title must be a non-blank str"),
        (lambda t: t.add_faq("", ANSWER), "question must be a non-blank str"),
        (lambda t: t.add_faq(QUESTION, None), "answer must be a non-blank str, got None"),
        (lambda t: t.add_faq(QUESTION, ANSWER, tags=[1]), "tags must hold only str"),
        (lambda t: t.add_faq(QUESTION, ANSWER, tags=["a,b"]), "cannot contain a comma"),
        (lambda t: t.list_texts("blog"), "type must be 'faq' or 'text', got 'blog'"),
        (lambda t: t.list_texts("faq", order="newest"), "order must be 'ASC' or 'DESC'"),
        (lambda t: t.list_texts("faq", limit=101), "limit must be an int from 1 to 100"),
        (lambda t: t.list_texts("faq", search=3), "search must be a str"),
    ],
)
async def test_bad_text_arguments_fail_before_any_request(
    bot: ProjectView, emu: Emulator, call: Any, message: str
) -> None:
    """Each bad argument is a ConfigurationError naming it, and nothing is sent."""
    with pytest.raises(ConfigurationError, match=message):
        await call(bot.training)
    assert emu.request_count() == 0


async def test_the_plan_limit_on_texts_is_a_quota_error_not_retried(
    bot: ProjectView, emu: Emulator
) -> None:
    """Past Limits.texts a create is QuotaExceededError with the service's text, sent once."""
    emu.limits.texts = 1
    await bot.training.add_text("first")
    with pytest.raises(QuotaExceededError, match="You have already reached the limit") as caught:
        await bot.training.add_faq(QUESTION, ANSWER)
    assert caught.value.attempts == 1
    assert emu.request_count("createProjectText") == 2
    assert emu.written("createProjectText") == 1


async def test_an_faq_without_a_question_is_invalid_params(emu: Emulator) -> None:
    """The emulator answers a bare FAQ with the service's "Invalid params" and its errors (the
    SDK never sends one, so this goes over raw HTTP)."""
    body = {"project_uid": emu.project_uid, "type": "faq", "detail": ANSWER}
    headers = {"Authorization": f"Bearer {emu.api_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.base_url}/createProjectText", json=body, headers=headers) as reply,
    ):
        payload = await reply.json()
    assert reply.status == 400
    assert payload == {
        "type": "RXERROR",
        "message": "Invalid params",
        "errors": {"short_text": "short_text is required"},
    }


async def test_a_viewer_reads_texts_but_cannot_add_them(emu: Emulator) -> None:
    """A viewer's token lists texts; adding one is PermissionDeniedError naming Training ›
    Write; a trainer's token may add."""
    viewer = client_of(emu, Token("api-v1-viewer", role="viewer"))
    trainer = client_of(emu, Token("api-v1-trainer", role="trainer"))
    async with viewer, trainer:
        await viewer.project(emu.project_uid).training.list_texts("faq")
        with pytest.raises(PermissionDeniedError, match="Training › Write"):
            await viewer.project(emu.project_uid).training.add_faq(QUESTION, ANSWER)
        await trainer.project(emu.project_uid).training.add_faq(QUESTION, ANSWER)
    assert emu.written("createProjectText") == 1


async def test_a_project_outside_the_token_scope_or_unknown(emu: Emulator) -> None:
    """A token scoped to another project is refused (403); an unknown project is Not found."""
    other = next(p.project_uid for p in emu.projects if p.project_uid != emu.project_uid)
    scoped = client_of(emu, Token("api-v1-scoped", projects=frozenset({other})))
    async with scoped:
        with pytest.raises(PermissionDeniedError):
            await scoped.project(emu.project_uid).training.list_files()
        with pytest.raises(NotFoundError, match="Not found"):
            await scoped.project("no-such-project").training.list_texts("text")


# -- files --------------------------------------------------------------------------------------


async def test_upload_file_returns_the_file_and_it_processes_on_the_emulator_clock(
    bot: ProjectView, emu: Emulator, fake_clock: FakeClock
) -> None:
    """An uploaded file is named after its URL, keeps its settings and tags, and is listed
    as processing until FILE_PROCESSING_SECONDS of the emulator's clock have passed."""
    uploaded = await bot.training.upload_file(
        FILE_URL + "?signature=abc", tags=["manuals"], extra_settings={"enable_citation": True}
    )
    assert isinstance(uploaded, TrainingFile)
    assert (uploaded.name, uploaded.extra_settings) == ("handbook.pdf", {"enable_citation": True})
    assert uploaded.created_at is not None  # read from the reply's snake_case created_at
    assert "created_at" in uploaded.raw
    assert uploaded.user_id is not None
    listed = await bot.training.list_files()
    assert [(f.id, f.status, f.tags) for f in listed] == [(uploaded.id, "processing", ("manuals",))]
    assert listed.total == 1
    fake_clock.advance(2.9)
    assert (await bot.training.list_files()).items[0].status == "processing"
    fake_clock.advance(0.1)
    assert (await bot.training.list_files()).items[0].status == "done"
    assert emu.written("uploadFile", name="handbook.pdf") == 1


async def test_list_files_filters_by_status_and_tags_and_pages(
    bot: ProjectView, emu: Emulator
) -> None:
    """list_files keeps the status and tags asked for, newest first, a page at a time."""
    first = emu.add_training_file("a.pdf", tags=["manuals"])
    emu.add_training_file("b.csv", status=None)  # processing
    third = emu.add_training_file("c.txt", status="failed", tags="manuals,old")
    assert [f.name for f in await bot.training.list_files(status="processing")] == ["b.csv"]
    manuals = await bot.training.list_files(tags="manuals")
    assert [f.id for f in manuals] == [third, first]
    page = await bot.training.list_files(order="ASC", page=2, limit=2)
    assert ([f.name for f in page], page.total, page.has_more) == (["c.txt"], 3, False)
    assert page.items[0].size is not None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.pdf", "an absolute http"),
        ("/docs/a.pdf", "an absolute http"),
        ("https:///a.pdf", "an absolute http"),
        ("https://example.com/setup.exe", "whose path has '.exe'"),
        ("https://example.com/docs/", "whose path has no file extension"),
        ("https://example.com/a.pdf.zip", "'.zip'"),
        (b"https://example.com/a.pdf", "got b'https"),
        ("", "an absolute http"),
    ],
)
async def test_a_bad_file_url_fails_before_any_request(
    bot: ProjectView, emu: Emulator, url: object, message: str
) -> None:
    """file_url must be an absolute http(s) URL ending with a supported type; the error names
    the URL and the types, and nothing is sent."""
    with pytest.raises(ConfigurationError, match=message) as caught:
        await bot.training.upload_file(url)  # type: ignore[arg-type]
    assert ".pdf, .doc, .docx" in str(caught.value)
    assert emu.request_count() == 0


async def test_upper_case_extensions_are_supported(bot: ProjectView) -> None:
    """A supported type in capitals (REPORT.XLSX) is accepted by the check and the emulator."""
    uploaded = await bot.training.upload_file("http://example.com/REPORT.XLSX")
    assert uploaded.name == "REPORT.XLSX"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"when": object()}, "extra_settings cannot be sent as JSON"),
        ({1: True}, "extra_settings must be a mapping with str keys"),
        ([("enable_citation", True)], "extra_settings must be a mapping"),
    ],
)
async def test_bad_extra_settings_fail_before_any_request(
    bot: ProjectView, emu: Emulator, settings: Any, message: str
) -> None:
    """extra_settings must be a JSON object; anything else is refused before I/O."""
    with pytest.raises(ConfigurationError, match=message):
        await bot.training.upload_file(FILE_URL, extra_settings=settings)
    assert emu.request_count() == 0


async def test_the_emulator_refuses_an_unsupported_file_type(emu: Emulator) -> None:
    """uploadFile of a type the service does not train on is a 400 naming the types."""
    body = {"project_uid": emu.project_uid, "file_url": "https://example.com/song.mp3"}
    headers = {"Authorization": f"Bearer {emu.api_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.base_url}/uploadFile", json=body, headers=headers) as reply,
    ):
        payload = await reply.json()
    assert (reply.status, payload["message"]) == (400, "Unsupported file type")
    assert "pdf" in payload["errors"]["file_url"]
    assert emu.writes == []


async def test_the_plan_limit_on_files(bot: ProjectView, emu: Emulator) -> None:
    """Past Limits.files an upload is QuotaExceededError; a deleted file makes room."""
    emu.limits.files = 1
    uploaded = await bot.training.upload_file(FILE_URL)
    with pytest.raises(QuotaExceededError, match="reached the limit"):
        await bot.training.upload_file("https://example.com/other.txt")
    await bot.training.delete_file(uploaded.id or 0)
    await bot.training.upload_file("https://example.com/other.txt")
    assert emu.written("uploadFile") == 2


async def test_delete_file_removes_it_and_an_unknown_id_is_not_found(
    bot: ProjectView, emu: Emulator
) -> None:
    """delete_file removes the file from the list; deleting it again is NotFoundError."""
    file_id = emu.add_training_file("a.pdf")
    assert await bot.training.delete_file(file_id) is None
    assert (await bot.training.list_files()).items == ()
    with pytest.raises(NotFoundError, match="Not found") as caught:
        await bot.training.delete_file(file_id)
    assert caught.value.attempts == 1
    assert emu.written("deleteFile", id=file_id) == 1


@pytest.mark.parametrize("file_id", [True, "7301", 0, -3, 7.0, None])
async def test_a_bad_file_id_fails_before_any_request(
    bot: ProjectView, emu: Emulator, file_id: object
) -> None:
    """file_id must be an int of at least 1; the error shows the value."""
    with pytest.raises(ConfigurationError, match=r"file_id must be a file's id, an int .* got"):
        await bot.training.delete_file(file_id)  # type: ignore[arg-type]
    assert emu.request_count() == 0


# -- what a lost reply leads to -----------------------------------------------------------------


async def test_a_delete_retried_after_a_lost_reply_counts_as_done(
    bot: ProjectView, emu: Emulator
) -> None:
    """A delete whose reply was lost is retried; the retry's "Not found" means done."""
    file_id = emu.add_training_file("a.pdf")
    emu.fault_plan.add("deleteFile", Fault.drop_after())
    assert await bot.training.delete_file(file_id) is None
    assert emu.request_count("deleteFile") == 2
    assert emu.written("deleteFile") == 1


async def test_a_lost_create_is_in_doubt_without_reconcile(bot: ProjectView, emu: Emulator) -> None:
    """Without reconcile, an FAQ whose reply was lost is DeliveryUnknownError, sent once,
    with advice naming list_texts and reconcile."""
    emu.fault_plan.add("createProjectText", Fault.drop_after())
    with pytest.raises(DeliveryUnknownError) as caught:
        await bot.training.add_faq(QUESTION, ANSWER)
    assert "training.list_texts" in str(caught.value)
    assert "reconcile=True" in str(caught.value)
    assert emu.request_count("createProjectText") == 1
    assert emu.written("createProjectText") == 1


@pytest.mark.parametrize("kind", ["faq", "text without a title", "text with a title"])
async def test_reconcile_finds_a_text_whose_reply_was_lost(
    yp: AsyncPlatformClient, emu: Emulator, fake_clock: FakeClock, kind: str
) -> None:
    """With reconcile=True a text stored but unanswered is found by search and returned:
    exactly one stored, no second create."""
    emu.add_training_text("An older text.", short_text="Older", type="faq")
    emu.fault_plan.add("createProjectText", Fault.drop_after())
    training = reconciling(yp, emu, fake_clock)
    if kind == "faq":
        made = await training.add_faq(QUESTION, ANSWER)
    elif kind == "text without a title":
        made = await training.add_text(ANSWER * 40)
    else:
        made = await training.add_text(ANSWER, title="Shipping")
    assert made.detail in (ANSWER, ANSWER * 40)
    assert emu.request_count("createProjectText") == 1
    assert emu.request_count("getProjectText") >= 1
    assert emu.written("createProjectText") == 1


async def test_reconcile_sends_again_a_text_that_did_not_land(
    yp: AsyncPlatformClient, emu: Emulator, fake_clock: FakeClock
) -> None:
    """A 502 before storing leaves the FAQ in doubt; the read-back finds nothing, waits the
    settle time, and sends it again: one stored."""
    emu.fault_plan.add("createProjectText", Fault.status(502))
    training = reconciling(yp, emu, fake_clock)
    made = await training.add_faq(QUESTION, ANSWER)
    assert made.question == QUESTION
    assert emu.request_count("createProjectText") == 2
    assert emu.written("createProjectText") == 1


async def test_reconcile_finds_a_file_whose_reply_was_lost(
    yp: AsyncPlatformClient, emu: Emulator, fake_clock: FakeClock
) -> None:
    """With reconcile=True an upload stored but unanswered is found by name in the files."""
    emu.add_training_file("other.pdf")
    emu.fault_plan.add("uploadFile", Fault.drop_after())
    training = reconciling(yp, emu, fake_clock)
    made = await training.upload_file(FILE_URL)
    assert made.name == "handbook.pdf"
    assert emu.request_count("uploadFile") == 1
    assert emu.written("uploadFile") == 1


def test_the_text_read_back_searches_by_title_only() -> None:
    """The read-back query searches by question or title, newest first; a text without one
    is looked for unsearched among the newest of its type, since a search that skipped the
    detail would miss it and have it sent again."""
    faq = {"project_uid": "p", "type": "faq", "short_text": QUESTION, "detail": ANSWER}
    text = {"project_uid": "p", "type": "text", "detail": ANSWER}
    assert _text_search(faq) == {
        "project_uid": "p", "type": "faq", "search": QUESTION, "orderBy": "DESC",
    }  # fmt: skip
    assert _text_search(text) == {"project_uid": "p", "type": "text", "orderBy": "DESC"}


# -- the wire format ----------------------------------------------------------------------------

WIRE_CALLS = [
    pytest.param(
        lambda t: t.add_faq(QUESTION, ANSWER, tags=["a", "b"]),
        "createProjectText",
        {"type": "faq", "short_text": QUESTION, "detail": ANSWER, "tags": "a,b"},
        id="add_faq",
    ),
    pytest.param(
        lambda t: t.add_text("Body"),
        "createProjectText",
        {"type": "text", "detail": "Body"},
        id="add_text",
    ),
    pytest.param(
        lambda t: t.list_texts("FAQ", search="ship", tags="x", order="desc", page=2, limit=5),
        "getProjectText",
        {"type": "faq", "search": "ship", "tags": "x", "orderBy": "DESC", "page": 2, "limit": 5},
        id="list_texts",
    ),
    pytest.param(
        lambda t: t.upload_file(FILE_URL, tags="m", extra_settings={"enable_citation": True}),
        "uploadFile",
        {"file_url": FILE_URL, "tags": "m", "extra_settings": {"enable_citation": True}},
        id="upload_file",
    ),
    pytest.param(
        lambda t: t.list_files(status="done"),
        "getProjectFiles",
        {"status": "done", "page": 1, "limit": 10},
        id="list_files",
    ),
    pytest.param(lambda t: t.delete_file(7301), "deleteFile", {"id": 7301}, id="delete_file"),
]


@pytest.mark.parametrize(("call", "endpoint", "fields"), WIRE_CALLS)
async def test_each_method_sends_exactly_its_fields_with_the_bearer_token(
    call: Any, endpoint: str, fields: dict[str, object]
) -> None:
    """Path /chatbot/v1/<name>, Authorization: Bearer and no api-key, and a JSON body of the
    project_uid and exactly the fields given."""
    server = RecordingServer()
    server.replies[endpoint] = {"type": "RXSUCCESS", "message": "ok", "data": {"id": 1}}
    if endpoint.startswith("get"):
        server.replies[endpoint] = {"type": "RXSUCCESS", "message": "ok", "data": []}
    async with platform_client(server) as client:
        await call(client.project("p-1").training)
    [seen] = server.seen
    assert seen.path == f"/chatbot/v1/{endpoint}"
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in {name.lower() for name in seen.headers}
    assert seen.headers["Content-Type"].startswith("application/json")
    assert seen.body == {"project_uid": "p-1", **fields}


TEXT_ROW = {"id": 9, "type": "faq", "short_text": "Q", "detail": "A", "tags": "x,y"}
TEXT_PAGES = [
    pytest.param({"data": {"count": 7, "rows": [TEXT_ROW]}}, 7, id="count-and-rows"),
    pytest.param({"data": {"rows": [TEXT_ROW]}}, None, id="rows-without-count"),
    pytest.param({"total": 7, "data": [TEXT_ROW]}, 7, id="total-beside-a-list"),
    pytest.param({"data": [TEXT_ROW]}, None, id="a-bare-list"),
    pytest.param({"data": {"count": "7", "rows": [TEXT_ROW, "junk"]}}, 7, id="count-as-text"),
]


@pytest.mark.parametrize(("reply", "total"), TEXT_PAGES)
async def test_list_texts_decodes_every_page_shape(
    reply: dict[str, Any], total: int | None
) -> None:
    """getProjectText's {count, rows} and the other list shapes all make the same page."""
    server = RecordingServer()
    server.replies["getProjectText"] = {"type": "RXSUCCESS", "message": "ok", **reply}
    async with platform_client(server) as client:
        page = await client.project("p-1").training.list_texts("faq")
    assert [(t.id, t.question, t.answer, t.tags) for t in page] == [(9, "Q", "A", ("x", "y"))]
    assert page.total == total


@pytest.mark.parametrize(
    ("reply", "count"),
    [
        pytest.param({"data": None}, 0, id="null-data"),
        pytest.param({}, 0, id="no-data"),
        pytest.param({"data": {"count": 0, "rows": []}}, 0, id="empty-rows"),
    ],
)
async def test_an_empty_text_list_in_any_shape(reply: dict[str, Any], count: int) -> None:
    """No data, null data and empty rows are all an empty page."""
    server = RecordingServer()
    server.replies["getProjectText"] = {"type": "RXSUCCESS", "message": "ok", **reply}
    async with platform_client(server) as client:
        page = await client.project("p-1").training.list_texts("text")
    assert len(page.items) == count
    assert not page.has_more


async def test_files_decode_from_the_upload_and_the_list_shapes() -> None:
    """uploadFile's snake_case reply and getProjectFiles' camelCase rows with total decode to
    the same fields; tags sent as a list decode too."""
    server = RecordingServer()
    server.replies["uploadFile"] = {
        "type": "RXSUCCESS",
        "message": "File uploaded successfully",
        "data": {"id": 5, "name": "a.pdf", "created_at": "2025-01-15T10:31:00.000Z",
                 "extra_settings": None, "user_id": 12},
    }  # fmt: skip
    server.replies["getProjectFiles"] = {
        "type": "RXSUCCESS",
        "message": "ok",
        "total": 1,
        "data": [{"id": 5, "name": "a.pdf", "status": "done", "size": 10,
                  "tags": ["m", "n"], "createdAt": "2025-01-15T10:31:00.000Z"}],
    }  # fmt: skip
    async with platform_client(server) as client:
        training = client.project("p-1").training
        uploaded = await training.upload_file(FILE_URL)
        listed = await training.list_files()
    assert uploaded.created_at == listed.items[0].created_at is not None
    assert (uploaded.status, uploaded.extra_settings) == (None, None)
    assert (listed.items[0].status, listed.items[0].tags, listed.total) == ("done", ("m", "n"), 1)


@pytest.mark.parametrize("data", [None, {}, [], "deleted"], ids=repr)
async def test_delete_file_ignores_whatever_data_comes_back(data: object) -> None:
    """deleteFile's reply is its message: any data, or none, is None."""
    server = RecordingServer()
    server.replies["deleteFile"] = {"type": "RXSUCCESS", "message": "deleted", "data": data}
    async with platform_client(server) as client:
        assert await client.project("p-1").training.delete_file(1) is None


async def test_invalid_params_errors_reach_the_exception() -> None:
    """A 400 "Invalid params" is BadRequestError carrying the per-field errors."""
    server = RecordingServer()
    server.replies["createProjectText"] = {
        "type": "RXERROR",
        "message": "Invalid params",
        "errors": {"short_text": "short_text is required"},
    }
    server.statuses["createProjectText"] = 400
    async with platform_client(server) as client:
        with pytest.raises(BadRequestError, match="short_text is required") as caught:
            await client.project("p-1").training.add_faq(QUESTION, ANSWER)
    assert caught.value.errors == {"short_text": "short_text is required"}


# -- the tags hook --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "tags"),
    [
        ("returns,policy", ("returns", "policy")),
        (" a , ,b,", ("a", "b")),
        ("", ()),
        (None, ()),
        (["x", " y ", 3, None, True], ("x", "y", "3")),
        ([{"id": 1, "name": "vip"}, {"id": 2}], ("vip",)),
        ({"name": "odd"}, ()),
        (7, ()),
    ],
)
def test_tags_decode_from_a_comma_separated_string_or_a_list(
    wire: object, tags: tuple[str, ...]
) -> None:
    """tuple[str, ...] fields read a comma-separated str or a list of names (or of objects
    with a name), dropping blanks; any other shape is no tags, never an error."""
    assert converter.structure({"tags": wire}, TrainingText).tags == tags
    assert make_converter(strict=True).structure({"tags": wire}, TrainingFile).tags == tags

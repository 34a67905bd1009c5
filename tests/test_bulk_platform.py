"""The bulk engine over the Platform API, against the emulator over loopback: training.add_many
(FAQs, texts and files, as items, dicts and csv rows), contacts.link_tags_many, the runs a spent
quota, a revoked token or a missing permission stops, read-backs that settle creates in doubt
now and after a resume, and an engine that knows no endpoint by name."""

from __future__ import annotations

import ast
import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _fakes import FakeClock, collect, policy, stored

from yourgpt_async import (
    AsyncPlatformClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContactTagsItem,
    DeliveryUnknownError,
    Failed,
    FaqItem,
    FileItem,
    InDoubt,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimit,
    Sent,
    TextItem,
    TrainingFile,
    TrainingText,
)
from yourgpt_async.platform import ProjectView
from yourgpt_async.testing import Emulator, Fault, Token

PACKAGE = Path(__file__).resolve().parent.parent / "yourgpt_async"


def client_of(emu: Emulator, fake: FakeClock, secret: str | None = None, **retry: Any) -> Any:
    """A platform client of ``secret`` (the owner's token by default), on the fake clock."""
    return AsyncPlatformClient(
        secret or emu.api_token,
        base_url=emu.base_url,
        retry=policy(fake, **retry),
        rate_limit=RateLimit.unlimited(),
    )


@pytest.fixture
async def bot(emu: Emulator, fake_clock: FakeClock) -> AsyncIterator[ProjectView]:
    """The first project, through the owner's token."""
    async with client_of(emu, fake_clock) as yp:
        yield yp.project(emu.project_uid)


def faqs(count: int, start: int = 0) -> list[FaqItem]:
    return [FaqItem(f"Question {n}?", f"Answer {n}.", key=f"faq-{n}") for n in range(start, count)]


def journal_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


# -- training.add_many ------------------------------------------------------------------------


async def test_add_many_adds_each_kind_once_and_returns_the_stored_item(
    bot: ProjectView, emu: Emulator, tmp_path: Path
) -> None:
    """FAQs, texts and files, as items, dicts and csv rows: each added once, each Sent with
    what add_faq, add_text or upload_file return, and the journal records its id."""
    rows = csv.DictReader(io.StringIO('question,answer,tags\n"From a row?",Yes,"a,b"\n'))
    items: list[Any] = [
        FaqItem("Do you ship to Norway?", "Yes, in 3-5 days.", tags=["shipping", "eu"]),
        TextItem("We open at nine.", title="Hours"),
        TextItem("Untitled text."),
        FileItem("https://example.com/docs/handbook.pdf", tags="manual"),
        {"question": "As a dict?", "answer": "Yes.", "tags": "", "key": ""},
        {"title": "", "text": "A dict text."},
        {"url": "https://example.com/price-list.xlsx"},
        *rows,
    ]
    journal = tmp_path / "run.journal"
    outcomes = await collect(bot.training.add_many(items, journal=journal, ordered=True))
    assert all(isinstance(outcome, Sent) for outcome in outcomes), outcomes
    replies = [outcome.reply for outcome in outcomes if isinstance(outcome, Sent)]
    assert [type(reply) for reply in replies] == [
        TrainingText, TrainingText, TrainingText, TrainingFile,
        TrainingText, TrainingText, TrainingFile, TrainingText,
    ]  # fmt: skip
    assert replies[0].tags == ("shipping", "eu")
    assert (replies[1].short_text, replies[1].detail) == ("Hours", "We open at nine.")
    assert replies[3].name == "handbook.pdf"
    assert replies[7].tags == ("a", "b")
    for question in ("Do you ship to Norway?", "As a dict?", "From a row?"):
        assert stored(emu, question) == 1
    assert emu.written("uploadFile", name="handbook.pdf") == 1
    assert len(emu.writes) == len(items)
    ids = [r["id"] for r in journal_records(journal) if r["s"] == "sent"]
    assert sorted(ids) == sorted(reply.id for reply in replies)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (FaqItem("Q?", ""), "answer must be a non-blank str"),
        (FaqItem("", "A."), "question must be a non-blank str"),
        (TextItem(" "), "text must be a non-blank str"),
        (FileItem("ftp://example.com/a.pdf"), "url must be an absolute http(s) URL"),
        (FileItem("https://example.com/a.exe"), "whose path has '.exe'"),
        (FaqItem("Q?", "A.", tags=[1]), "tags must hold only str"),  # type: ignore[list-item]
        (FaqItem("Q?", "A.", key="#mine"), "key must be a non-empty str"),
        ({"question": "Q?"}, "missing answer"),
        ({"question": "Q?", "answer": "A.", "colour": "red"}, "unknown field(s): colour"),
        ({"question": "Q?", "url": "https://e.com/a.pdf"}, "more than one kind"),
        ({"tags": "a"}, "the fields of no kind"),
        (("Q?", "A."), "must be a FaqItem, TextItem or FileItem, or a mapping"),
        (42, "got int: 42"),
    ],
)
async def test_an_invalid_training_item_fails_without_a_request(
    bot: ProjectView, emu: Emulator, raw: object, problem: str
) -> None:
    """A bad item is Failed with a ConfigurationError naming its position and the problem,
    before any request; the good item after it is added."""
    outcomes = await collect(
        bot.training.add_many([raw, FaqItem("Fine?", "Yes.")], ordered=True)  # type: ignore[list-item]
    )
    bad, good = outcomes
    assert isinstance(bad, Failed)
    assert isinstance(bad.error, ConfigurationError)
    assert str(bad.error).startswith("item 0")
    assert problem in str(bad.error)
    assert isinstance(good, Sent)
    assert emu.request_count("createProjectText") == 1
    assert emu.request_count("uploadFile") == 0


async def test_two_training_items_with_one_key_are_refused_before_sending(
    bot: ProjectView, emu: Emulator
) -> None:
    """A list naming a key twice (an item's and a dict's) is an error naming both positions."""
    items: list[Any] = [FaqItem("A?", "a", key="k"), {"text": "b", "key": "k"}]
    with pytest.raises(ConfigurationError, match="items 0 and 1 have the same key 'k'"):
        bot.training.add_many(items)
    assert emu.request_count() == 0


def test_add_many_refuses_bad_arguments_at_once(bot: ProjectView) -> None:
    """Arguments are checked when the run is made, naming what add_many takes."""
    with pytest.raises(ConfigurationError, match="of FaqItem, TextItem, FileItem or mappings"):
        bot.training.add_many(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="concurrency must be an int of at least 1"):
        bot.training.add_many([], concurrency=0)


# -- runs that stop when nothing later can succeed ----------------------------------------------


async def test_a_spent_quota_stops_the_run_within_one_window_and_a_later_run_adds_the_rest(
    bot: ProjectView, emu: Emulator, tmp_path: Path
) -> None:
    """The plan holds 20 texts: a run of 100 FAQs stops at the first refusal, with at most
    `concurrency` requests past the limit and the rest not attempted; once the plan holds
    more, the same call with the journal adds the other 80, none twice."""
    emu.limits.texts = 20
    journal, concurrency = tmp_path / "faqs.journal", 4
    run = bot.training.add_many(faqs(100), journal=journal, concurrency=concurrency)
    outcomes = await collect(run)
    assert isinstance(run.stopped_by, QuotaExceededError)
    refused = [o for o in outcomes if isinstance(o, Failed)]
    assert 1 <= len(refused) <= concurrency
    assert all(isinstance(o.error, QuotaExceededError) for o in refused)
    assert emu.request_count("createProjectText") <= 20 + concurrency
    summary = run.summary()
    assert (summary.sent, summary.in_doubt) == (20, 0)
    assert summary.completed + summary.not_sent <= 20 + concurrency
    emu.limits.texts = 1000
    again = bot.training.add_many(faqs(100), journal=journal, concurrency=concurrency)
    resumed = await collect(again)
    assert again.stopped_by is None
    assert (again.summary().sent, again.summary().skipped) == (80, 20)
    assert all(isinstance(o, Sent) for o in resumed)
    assert all(stored(emu, item.question) == 1 for item in faqs(100))


async def test_a_revoked_token_stops_the_run_and_a_new_one_adds_the_rest(
    emu: Emulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """The token is revoked after 5 FAQs: the next item is refused (401), nothing more is
    sent, and a run with a new token and the same journal adds the other 24, none twice."""
    emu.tokens["api-v1-old"] = Token("api-v1-old")
    journal = tmp_path / "faqs.journal"
    async with client_of(emu, fake_clock, "api-v1-old") as yp:
        run = yp.project(emu.project_uid).training.add_many(
            faqs(30), journal=journal, concurrency=1
        )
        async with run:
            async for outcome in run:
                if outcome.index == 4:
                    emu.tokens["api-v1-old"].status = "revoked"
    assert isinstance(run.stopped_by, AuthenticationError)
    assert "revoked" in str(run.stopped_by)
    assert (run.summary().sent, run.summary().failed) == (5, 1)
    assert emu.request_count("createProjectText") == 6
    emu.tokens["api-v1-new"] = Token("api-v1-new")
    async with client_of(emu, fake_clock, "api-v1-new") as yp:
        again = yp.project(emu.project_uid).training.add_many(faqs(30), journal=journal)
        await collect(again)
    assert (again.summary().sent, again.summary().skipped) == (25, 5)
    assert all(stored(emu, item.question) == 1 for item in faqs(30))


async def test_a_missing_permission_stops_the_run_at_the_first_refusal(
    emu: Emulator, fake_clock: FakeClock
) -> None:
    """A viewer's token may not write training: at most `concurrency` requests, then the run
    stops, saying which permission it needs; the rest are never sent."""
    emu.tokens["api-v1-viewer"] = Token("api-v1-viewer", role="viewer")
    async with client_of(emu, fake_clock, "api-v1-viewer") as yp:
        run = yp.project(emu.project_uid).training.add_many(faqs(200), concurrency=4)
        outcomes = await collect(run)
    assert isinstance(run.stopped_by, PermissionDeniedError)
    assert "Training › Write" in str(run.stopped_by)
    assert 1 <= len(outcomes) <= 4
    assert emu.request_count("createProjectText") <= 4
    assert emu.writes == []


async def test_an_item_refused_alone_does_not_stop_the_run(bot: ProjectView, emu: Emulator) -> None:
    """A 400 for one item (the service's "Invalid params") fails that item only."""
    emu.fault_plan.add("createProjectText", Fault.status(400, message="Invalid params"))
    run = bot.training.add_many(faqs(10), concurrency=1)
    outcomes = await collect(run)
    assert run.stopped_by is None
    assert [type(o) for o in outcomes].count(Failed) == 1
    assert run.summary().sent == 9


# -- in doubt, settled by reading the project back ---------------------------------------------


async def test_reconciling_settles_dropped_faqs_to_exactly_one_each(
    emu: Emulator, fake_clock: FakeClock
) -> None:
    """One FAQ stored but unanswered, one lost before storing: with reconcile=True the first
    is Sent (settled, not added again), the second added; each stored once; read-backs
    counted."""
    emu.fault_plan.add("createProjectText", Fault.drop_after(), Fault.drop_before())
    async with client_of(emu, fake_clock, reconcile=True, settle=1.0) as yp:
        run = yp.project(emu.project_uid).training.add_many(faqs(4), concurrency=1)
        outcomes = await collect(run)
    assert all(isinstance(o, Sent) for o in outcomes)
    settled = [o for o in outcomes if isinstance(o, Sent) and o.settled]
    assert [o.key for o in settled] == ["faq-0"]
    assert isinstance(settled[0].reply, TrainingText)
    assert settled[0].reply.short_text == "Question 0?"
    assert all(stored(emu, item.question) == 1 for item in faqs(4))
    assert run.summary().settled == 1
    assert run.summary().read_backs >= 2


async def first_run_with_two_in_doubt(emu: Emulator, fake: FakeClock, journal: Path) -> None:
    """Three FAQs: the first stored but unanswered, the second lost before storing (both in
    doubt), the third added."""
    emu.fault_plan.add("createProjectText", Fault.drop_after(), Fault.drop_before())
    async with client_of(emu, fake) as yp:
        run = yp.project(emu.project_uid).training.add_many(faqs(3), journal=journal, concurrency=1)
        kinds = [type(o) for o in await collect(run)]
    assert kinds == [InDoubt, InDoubt, Sent]


async def test_a_resume_settles_an_earlier_runs_in_doubt_faqs_by_reading_back(
    emu: Emulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """Resumed with reconcile=True: the stored FAQ is found (Sent, settled, not added again),
    the lost one is added once the earlier call's deadline and the settle time have passed;
    a third run finds all three done."""
    journal = tmp_path / "faqs.journal"
    await first_run_with_two_in_doubt(emu, fake_clock, journal)
    async with client_of(emu, fake_clock, reconcile=True) as yp:
        training = yp.project(emu.project_uid).training
        run = training.add_many(faqs(3), journal=journal, concurrency=1)
        outcomes = {o.key: o for o in await collect(run)}
        assert set(outcomes) == {"faq-0", "faq-1"}
        first, second = outcomes["faq-0"], outcomes["faq-1"]
        assert isinstance(first, Sent)
        assert first.settled
        assert isinstance(first.reply, TrainingText)
        assert isinstance(second, Sent)
        assert not second.settled
        assert max(fake_clock.sleeps) > 90  # the earlier call's deadline + settle
        assert (run.summary().skipped, run.summary().read_backs) == (1, 3)
        third = training.add_many(faqs(3), journal=journal)
        assert await collect(third) == []
        assert third.summary().skipped == 3
    assert all(stored(emu, item.question) == 1 for item in faqs(3))


async def test_without_reconciling_an_earlier_runs_in_doubt_faqs_stay_in_doubt(
    emu: Emulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """Resumed without reconciling: the two are InDoubt again, not added, and the error says
    what the earlier run did and how to look or resend."""
    journal = tmp_path / "faqs.journal"
    await first_run_with_two_in_doubt(emu, fake_clock, journal)
    emu.fault_plan.clear()
    async with client_of(emu, fake_clock) as yp:
        run = yp.project(emu.project_uid).training.add_many(faqs(3), journal=journal)
        outcomes = await collect(run)
    assert all(isinstance(o, InDoubt) for o in outcomes)
    error = outcomes[0].error
    assert isinstance(error, DeliveryUnknownError)
    assert error.endpoint == "createProjectText"
    assert "sent by an earlier run that got no usable answer" in str(error)
    assert "it may have been added" in str(error)
    assert "resend_in_doubt=True" in str(error)
    assert emu.request_count("createProjectText") == 3  # the first run's, nothing more


# -- contacts.link_tags_many ------------------------------------------------------------------


@pytest.fixture
def contacts(emu: Emulator) -> list[int]:
    """Three contacts; the project has the tags vip, churn-risk and newsletter."""
    made = [emu.add_contact("Ann", tags=["vip", "churn-risk", "newsletter"])]
    made += [emu.add_contact(name) for name in ("Bo", "Cy")]
    return made


async def test_link_tags_many_links_each_and_fails_only_the_missing(
    bot: ProjectView, contacts: list[int]
) -> None:
    """Each contact gets its tags (kept with its others); a missing contact or tag fails
    that item only; tuples, dicts and items alike."""
    ann, bo, cy = contacts
    items: list[Any] = [
        ContactTagsItem(bo, ["vip", "newsletter"]),
        (cy, "churn-risk"),
        {"contact_id": str(ann), "tags": "vip"},
        (999999, "vip"),
        (bo, "no-such-tag"),
    ]
    outcomes = await collect(bot.contacts.link_tags_many(items, ordered=True))
    assert [type(o) for o in outcomes] == [Sent, Sent, Sent, Failed, Failed]
    assert all(o.reply is None for o in outcomes if isinstance(o, Sent))
    assert isinstance(outcomes[3].error, NotFoundError)  # type: ignore[union-attr]
    assert isinstance(outcomes[4].error, BadRequestError)  # type: ignore[union-attr]
    assert set((await bot.contacts.get(bo)).tags) == {"vip", "newsletter"}
    assert (await bot.contacts.get(cy)).tags == ("churn-risk",)


async def test_an_unfinished_tagging_is_linked_again_on_resume(
    bot: ProjectView, emu: Emulator, contacts: list[int], tmp_path: Path
) -> None:
    """Linking is safe to repeat: an item an earlier run started and never ended is linked
    again on resume, not reported in doubt."""
    _, bo, cy = contacts
    journal = tmp_path / "tags.journal"
    items = [ContactTagsItem(bo, "vip", key="bo"), ContactTagsItem(cy, "vip", key="cy")]
    await collect(bot.contacts.link_tags_many(items, journal=journal))
    kept = [line for line in journal.read_text().splitlines() if '"k":"cy","s":"sent"' not in line]
    journal.write_text("\n".join(kept) + "\n")  # as if killed after cy's request left
    run = bot.contacts.link_tags_many(items, journal=journal)
    outcomes = await collect(run)
    assert [(type(o), o.key) for o in outcomes] == [(Sent, "cy")]
    assert run.summary().skipped == 1
    assert emu.request_count("linkContactTags") == 3


async def test_a_bad_contact_tagging_fails_without_a_request(
    bot: ProjectView, emu: Emulator
) -> None:
    """No tags, a bad id or a non-item: Failed before any request, naming the problem."""
    items: list[Any] = [(1, ""), ("abc", "vip"), {"contact_id": 1}, "x"]
    outcomes = await collect(bot.contacts.link_tags_many(items, ordered=True))
    problems = [str(o.error) for o in outcomes if isinstance(o, Failed)]
    assert len(problems) == 4
    assert "tags must name at least one tag" in problems[0]
    assert "contact_id must be an id" in problems[1]
    assert "missing tags" in problems[2]
    assert "must be a ContactTagsItem" in problems[3]
    assert emu.request_count("linkContactTags") == 0


# -- the engine knows no endpoint ----------------------------------------------------------------

ENGINE = ("_engine", "_journal", "_source", "_starts", "_keys", "_kind", "_items", "_outcomes")


def _imports(module: str) -> Iterator[str]:
    """The package modules ``bulk/<module>.py`` imports from, as dotted names."""
    tree = ast.parse((PACKAGE / "bulk" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ["yourgpt_async", "bulk"][: 3 - node.level]
            yield ".".join([*base, *(node.module or "").split(".")])


@pytest.mark.parametrize("module", ENGINE)
def test_the_engine_knows_no_endpoint_by_name(module: str) -> None:
    """The engine's modules import no endpoint, model or kind of item, nor name a message or
    a session: what an item is and what its call returns, a BulkKind tells them."""
    imported = set(_imports(module))
    assert "yourgpt_async._endpoints" in set(_imports("_kind"))  # the check sees imports
    for specific in ("_project_api", "_models", "types", "platform", "_messages", "_platform"):
        assert not [name for name in imported if specific in name.split(".")[-1]], imported
    source = (PACKAGE / "bulk" / f"{module}.py").read_text()
    for word in ("send_message", "session_uid", "SendBy", "sendMessage", "getSessionMessages"):
        assert word not in source, (module, word)

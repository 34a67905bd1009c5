"""The Platform API's contacts, contact lists, companies and tags: each method against the
emulator over loopback HTTP (filters, pages, links, errors, permissions, read-back, deletes
retried), arguments checked before any I/O, and the exact wire format and every reply shape
against a recording server."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from _fakes import FakeClock, PlatformFactory, policy
from _recording_server import TOKEN, RecordingServer, platform_client

from yourgpt_async import (
    AsyncPlatformClient,
    AuthenticationError,
    BadRequestError,
    Company,
    ConfigurationError,
    Contact,
    ContactList,
    ContactTag,
    ContactType,
    DeliveryUnknownError,
    NotFoundError,
    PermissionDeniedError,
    RateLimit,
    UnexpectedResponseError,
)
from yourgpt_async.platform import ProjectView
from yourgpt_async.platform._contact_filter import contact_filter
from yourgpt_async.testing import Emulator, Fault, Token

SAMPLES = Path(__file__).parent / "samples"
FILTER = {
    "operator": "and",
    "conditions": [{"model": "CONTACTS", "key": "tags", "operator": "eq", "value": "vip"}],
}


@pytest.fixture
def platform(make_platform: PlatformFactory, fake_clock: FakeClock) -> AsyncPlatformClient:
    """A client with the emulator's owner token, retrying on the fake clock (without jitter)
    and pacing nothing."""
    return make_platform(retry=policy(fake_clock), rate_limit=RateLimit.unlimited())


@pytest.fixture
def bot(platform: AsyncPlatformClient, emulator: Emulator) -> ProjectView:
    """The view of the emulator's first project."""
    return platform.project(emulator.project_uid)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=timezone.utc)


@attrs.frozen
class Seeded:
    """The ids of what :func:`seeded` put in the emulator."""

    ada: int
    grace: int
    alan: int
    spam: int
    company: int


@pytest.fixture
def seeded(emulator: Emulator) -> Seeded:
    """Four contacts of the first project (one spam), one company, tags vip and newsletter."""
    company = emulator.add_company("Analytical Engines Ltd", website="https://example.com")
    return Seeded(
        ada=emulator.add_contact(
            "Ada Lovelace",
            email="ada@example.com",
            phone="+447700900123",
            tags=["vip", "newsletter"],
            company_id=company,
            created_at=at("2024-07-01"),
        ),
        grace=emulator.add_contact(
            "Grace Hopper", email="grace@navy.example", type="USERS", created_at=at("2024-07-03")
        ),
        alan=emulator.add_contact(
            "Alan Turing", phone="+447700900999", tags=["vip"], created_at=at("2024-07-05")
        ),
        spam=emulator.add_contact("Buy now", type="SPAM", created_at=at("2024-07-05")),
        company=company,
    )


def names(items: Any) -> list[str | None]:
    return [item.name for item in items]


# -- contacts ---------------------------------------------------------------------------------


async def test_list_decodes_every_field_with_the_total(
    bot: ProjectView, seeded: Seeded, emulator: Emulator
) -> None:
    """A listed contact has every documented field, tags as a tuple and aware timestamps."""
    page = await bot.contacts.list()
    assert page.total == 4
    ada = page.items[0]
    assert isinstance(ada, Contact)
    assert (ada.id, ada.name, ada.email, ada.phone) == (
        seeded.ada,
        "Ada Lovelace",
        "ada@example.com",
        "+447700900123",
    )
    assert ada.type is ContactType.LEADS
    assert ada.tags == ("vip", "newsletter")
    assert ada.company_id == seeded.company
    assert ada.project_id == emulator.projects[0].id
    assert ada.created_at == at("2024-07-01")
    assert ada.raw["tags"] == "vip,newsletter"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": "LEADS"}, ["Ada Lovelace", "Alan Turing"]),
        ({"type": ContactType.USERS}, ["Grace Hopper"]),
        ({"type": "spam"}, ["Buy now"]),
        ({"type": "ALL"}, ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Buy now"]),
        ({"search": "NAVY"}, ["Grace Hopper"]),
        ({"search": "900999"}, ["Alan Turing"]),
        ({"tags": ["newsletter"]}, ["Ada Lovelace"]),
        ({"tags": "newsletter, vip"}, ["Ada Lovelace", "Alan Turing"]),
        ({"exclude_spam": True}, ["Ada Lovelace", "Grace Hopper", "Alan Turing"]),
        ({"date_from": "2024-07-03"}, ["Grace Hopper", "Alan Turing", "Buy now"]),
        ({"date_to": date(2024, 7, 3)}, ["Ada Lovelace", "Grace Hopper"]),
        ({"date_from": "2024-07-02", "date_to": "2024-07-04"}, ["Grace Hopper"]),
        ({"order": "desc"}, ["Buy now", "Alan Turing", "Grace Hopper", "Ada Lovelace"]),
        ({"type": "LEADS", "tags": "vip", "search": "alan"}, ["Alan Turing"]),
    ],
    ids=lambda value: json.dumps(value, default=str) if isinstance(value, dict) else "",
)
async def test_list_filters(
    bot: ProjectView, seeded: Seeded, filters: dict[str, Any], expected: list[str]
) -> None:
    """Each filter (type, search over name/email/phone, tags, spam, days, order) selects the
    contacts it names, and the total counts them."""
    page = await bot.contacts.list(**filters)
    assert names(page) == expected
    assert page.total == len(expected)


async def test_list_pages_through_every_contact(bot: ProjectView, emulator: Emulator) -> None:
    """Pages of 2 over 5 contacts: the total, has_more, the next page, and ``async for``
    through all of them in order."""
    ids = [emulator.add_contact(f"Contact {n}") for n in range(5)]
    first = await bot.contacts.list(limit=2)
    assert [c.id for c in first] == ids[:2]
    assert (first.total, first.has_more) == (5, True)
    second = await first.get_next_page()
    assert second is not None
    assert [c.id for c in second] == ids[2:4]
    assert [contact.id async for contact in first] == ids
    last = await bot.contacts.list(page=3, limit=2)
    assert ([c.id for c in last], last.has_more) == (ids[4:], False)


async def test_get_returns_one_contact(bot: ProjectView, seeded: Seeded) -> None:
    """get() returns the contact by its id, accepting its digits as a str too."""
    grace = await bot.contacts.get(seeded.grace)
    assert (grace.id, grace.name, grace.type, grace.tags) == (
        seeded.grace,
        "Grace Hopper",
        ContactType.USERS,
        (),
    )
    assert await bot.contacts.get(str(seeded.grace)) == grace  # type: ignore[arg-type]


async def test_unknown_ids_are_not_found(bot: ProjectView, seeded: Seeded) -> None:
    """An unknown contact, company or list is NotFoundError with the service's "Not found"."""
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: bot.contacts.get(999),
        lambda: bot.contacts.link_company(999, seeded.company),
        lambda: bot.contacts.link_company(seeded.ada, 999),
        lambda: bot.contacts.link_tags(999, ["vip"]),
        lambda: bot.contacts.list(list_id=999),
        lambda: bot.contact_lists.update(999, name="x"),
        lambda: bot.companies.get(999),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as raised:
            await call()
        assert raised.value.message == "Not found"
        assert "check the id" in str(raised.value)


async def test_another_projects_contact_is_not_found(
    platform: AsyncPlatformClient, emulator: Emulator, seeded: Seeded
) -> None:
    """A contact of one project is not found through another project's view."""
    other = emulator.projects[1].project_uid
    stranger = emulator.add_contact("Elsewhere", project_uid=other)
    with pytest.raises(NotFoundError):
        await platform.project(other).contacts.get(seeded.ada)
    assert (await platform.project(other).contacts.get(stranger)).name == "Elsewhere"
    assert names(await platform.project(other).contacts.list()) == ["Elsewhere"]


async def test_link_company_links_moves_and_unlinks(
    bot: ProjectView, emulator: Emulator, seeded: Seeded
) -> None:
    """link_company links a contact (twice is the same), and None unlinks it."""
    other = emulator.add_company("Bletchley Park")
    for _ in range(2):
        assert await bot.contacts.link_company(seeded.alan, other) is None
    assert (await bot.contacts.get(seeded.alan)).company_id == other
    assert names((await bot.companies.get(other)).contacts) == ["Alan Turing"]
    await bot.contacts.link_company(seeded.alan, None)
    assert (await bot.contacts.get(seeded.alan)).company_id is None
    assert (await bot.companies.get(other)).contacts == ()


async def test_link_tags_adds_existing_tags_once(bot: ProjectView, seeded: Seeded) -> None:
    """link_tags links existing tags by name, keeps the contact's others, and a repeat (or a
    tag already linked) changes nothing."""
    await bot.tags.create("churn-risk")
    for _ in range(2):
        await bot.contacts.link_tags(seeded.alan, "churn-risk, vip")
    assert (await bot.contacts.get(seeded.alan)).tags == ("vip", "churn-risk")
    assert names(await bot.contacts.list(tags=["churn-risk"])) == ["Alan Turing"]


async def test_link_tags_refuses_a_tag_that_does_not_exist(
    bot: ProjectView, seeded: Seeded
) -> None:
    """An unknown tag name is the service's "Invalid params", naming the tag; nothing is
    linked, not even the tags that exist."""
    with pytest.raises(BadRequestError) as raised:
        await bot.contacts.link_tags(seeded.grace, ["vip", "no-such-tag"])
    assert raised.value.message == "Invalid params"
    assert raised.value.errors == {"tags": "tags not found: no-such-tag"}
    assert "no-such-tag" in str(raised.value)
    assert (await bot.contacts.get(seeded.grace)).tags == ()


# -- companies --------------------------------------------------------------------------------


async def test_company_comes_with_its_contacts(bot: ProjectView, seeded: Seeded) -> None:
    """companies.get returns the company and the contacts linked to it, decoded."""
    company = await bot.companies.get(seeded.company)
    assert isinstance(company, Company)
    assert (company.id, company.name, company.website) == (
        seeded.company,
        "Analytical Engines Ltd",
        "https://example.com",
    )
    assert [contact.id for contact in company.contacts] == [seeded.ada]
    assert company.contacts[0].tags == ("vip", "newsletter")


async def test_deleting_a_company_unlinks_its_contacts(bot: ProjectView, seeded: Seeded) -> None:
    """A deleted company is gone; its contacts stay, unlinked."""
    assert await bot.companies.delete(seeded.company) is None
    with pytest.raises(NotFoundError):
        await bot.companies.get(seeded.company)
    ada = await bot.contacts.get(seeded.ada)
    assert (ada.name, ada.company_id) == ("Ada Lovelace", None)
    with pytest.raises(NotFoundError):
        await bot.companies.delete(seeded.company)


# -- contact lists ----------------------------------------------------------------------------


async def test_a_list_is_a_saved_filter_that_list_id_applies(
    bot: ProjectView, seeded: Seeded, emulator: Emulator
) -> None:
    """A list made from a plain {key: value} dict is stored in the service's form, and
    ``list_id`` selects the contacts its filter matches now, later ones too."""
    made = await bot.contact_lists.create(
        "VIP leads", {"tags": "vip", "type": "LEADS"}, icon="star"
    )
    assert isinstance(made, ContactList)
    assert (made.name, made.icon) == ("VIP leads", "star")
    assert made.filter_by == {
        "operator": "and",
        "conditions": [
            {"model": "CONTACTS", "key": "tags", "operator": "eq", "value": "vip"},
            {"model": "CONTACTS", "key": "type", "operator": "eq", "value": "LEADS"},
        ],
    }
    assert made.id is not None
    assert names(await bot.contacts.list(list_id=made.id)) == ["Ada Lovelace", "Alan Turing"]
    emulator.add_contact("Late VIP", tags=["vip"])
    assert (await bot.contacts.list(list_id=made.id)).total == 3
    assert emulator.written("createContactList", name="VIP leads") == 1


async def test_or_lists_and_updated_filters(bot: ProjectView, seeded: Seeded) -> None:
    """An "or" filter selects contacts matching any condition; update() replaces the filter,
    name and icon, and list_id follows the new filter."""
    either = {
        "operator": "or",
        "conditions": [
            {"key": "type", "value": "USERS"},
            {"key": "email", "value": "ada@example.com", "operator": "eq", "model": "CONTACTS"},
        ],
    }
    made = await bot.contact_lists.create("Mixed", either)
    assert made.id is not None
    assert names(await bot.contacts.list(list_id=made.id)) == ["Ada Lovelace", "Grace Hopper"]
    await bot.contact_lists.update(made.id, filter_by={"type": "SPAM"}, name="Spam", icon="bin")
    assert names(await bot.contacts.list(list_id=made.id)) == ["Buy now"]
    both = await bot.contacts.list(list_id=made.id, exclude_spam=True)
    assert (both.items, both.total) == ((), 0)


async def test_a_filter_on_a_field_contacts_lack_selects_none(
    bot: ProjectView, seeded: Seeded
) -> None:
    """A condition on a key no contact has matches nobody (it does not match everybody)."""
    made = await bot.contact_lists.create("Odd", {"favourite_colour": "blue"})
    assert made.id is not None
    assert (await bot.contacts.list(list_id=made.id)).total == 0


async def test_deleting_a_list_leaves_its_contacts(bot: ProjectView, seeded: Seeded) -> None:
    """A deleted list no longer filters ("Not found"); the contacts it selected remain."""
    made = await bot.contact_lists.create("VIP", {"tags": "vip"})
    assert made.id is not None
    assert await bot.contact_lists.delete(made.id) is None
    with pytest.raises(NotFoundError):
        await bot.contacts.list(list_id=made.id)
    assert (await bot.contacts.list(tags="vip")).total == 2


async def test_the_emulator_refuses_an_operator_it_does_not_know(
    bot: ProjectView, emulator: Emulator
) -> None:
    """The client lets any condition operator through; the emulator, like the documented
    service, takes only "eq" and says so as invalid params."""
    with pytest.raises(BadRequestError) as raised:
        await bot.contact_lists.create(
            "x", {"conditions": [{"key": "a", "value": 1, "operator": "ne"}]}
        )
    assert raised.value.errors == {"filter_by": "a condition's operator must be eq"}
    assert emulator.written("createContactList") == 0


async def test_the_emulator_takes_a_form_body_with_the_filter_as_json_text(
    emulator: Emulator,
) -> None:
    """A form-encoded createContactList carries filter_by as JSON text, which is applied."""
    emulator.add_contact("Ada", tags=["vip"])
    filter_by = {
        "operator": "and",
        "conditions": [{"model": "CONTACTS", "key": "tags", "operator": "eq", "value": "vip"}],
    }
    form = {"project_uid": emulator.project_uid, "name": "VIP", "filter_by": json.dumps(filter_by)}
    headers = {"Authorization": f"Bearer {emulator.api_token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{emulator.base_url}/createContactList", data=form) as reply:
            made = await reply.json()
        assert made["data"]["filter_by"] == filter_by
        body = {"project_uid": emulator.project_uid, "list_id": made["data"]["id"]}
        async with session.post(f"{emulator.base_url}/getAllContacts", json=body) as reply:
            listed = await reply.json()
    assert [contact["name"] for contact in listed["data"]] == ["Ada"]


# -- tags -------------------------------------------------------------------------------------


async def test_tags_are_listed_searched_and_created(bot: ProjectView, emulator: Emulator) -> None:
    """create() returns the tag and notes it in the ledger; list() pages and searches by
    part of the name, with the total."""
    emulator.add_contact("Ada", tags=["vip", "newsletter"])
    made = await bot.tags.create("churn-risk")
    assert isinstance(made, ContactTag)
    assert (made.name, made.project_id) == ("churn-risk", emulator.projects[0].id)
    assert emulator.written("createContactTag", name="churn-risk") == 1
    page = await bot.tags.list(limit=2)
    assert (names(page), page.total, page.has_more) == (["vip", "newsletter"], 3, True)
    assert names(await bot.tags.list(search="RISK")) == ["churn-risk"]
    assert names(await bot.tags.list(order="DESC")) == ["churn-risk", "newsletter", "vip"]


async def test_a_dropped_tag_create_is_settled_to_one_tag(
    bot: ProjectView, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """With reconcile=True a create whose answer was lost is found by name: one tag stored,
    returned, and not sent again."""
    emulator.fault_plan.add("createContactTag", Fault.drop_after())
    made = await bot.tags.create("churn-risk", retry=policy(fake_clock, reconcile=True))
    assert made.name == "churn-risk"
    assert emulator.written("createContactTag", name="churn-risk") == 1
    assert emulator.request_count("createContactTag") == 1
    assert emulator.request_count("getAllContactTags") == 1
    assert names(await bot.tags.list()) == ["churn-risk"]


async def test_a_tag_create_that_never_landed_is_sent_again_once(
    bot: ProjectView, emulator: Emulator, fake_clock: FakeClock
) -> None:
    """With reconcile=True a create dropped before it was stored is looked for, then sent
    again: exactly one tag in the end."""
    emulator.fault_plan.add("createContactTag", Fault.drop_before())
    made = await bot.tags.create("churn-risk", retry=policy(fake_clock, reconcile=True))
    assert made.name == "churn-risk"
    assert emulator.written("createContactTag") == 1
    assert emulator.request_count("createContactTag") == 2
    assert names(await bot.tags.list()) == ["churn-risk"]


async def test_a_dropped_create_without_reconcile_is_in_doubt(
    bot: ProjectView, emulator: Emulator
) -> None:
    """A list or tag create whose answer was lost is DeliveryUnknownError, stored once and
    not resent; the advice says how to check."""
    emulator.fault_plan.add("createContactList", Fault.drop_after())
    with pytest.raises(DeliveryUnknownError) as raised:
        await bot.contact_lists.create("VIP", {"tags": "vip"})
    assert emulator.written("createContactList") == 1
    assert emulator.request_count("createContactList") == 1
    assert "dashboard" in str(raised.value)
    emulator.fault_plan.add("createContactTag", Fault.drop_after())
    with pytest.raises(DeliveryUnknownError) as raised:
        await bot.tags.create("vip")
    assert "tags.list(search=name)" in str(raised.value)
    assert "reconcile=True" in str(raised.value)
    assert emulator.written("createContactTag") == 1


@pytest.mark.parametrize("what", ["list", "company"])
async def test_a_delete_retried_after_a_lost_answer_is_done(
    bot: ProjectView, emulator: Emulator, seeded: Seeded, what: str
) -> None:
    """A delete whose answer was lost is retried; the retry's "Not found" counts as done."""
    if what == "list":
        made = await bot.contact_lists.create("VIP", {"tags": "vip"})
        assert made.id is not None
        endpoint, delete, get = (
            "deleteContactList",
            lambda: bot.contact_lists.delete(made.id or 0),
            lambda: bot.contacts.list(list_id=made.id),
        )
    else:
        endpoint, delete, get = (
            "deleteContactCompany",
            lambda: bot.companies.delete(seeded.company),
            lambda: bot.companies.get(seeded.company),
        )
    emulator.fault_plan.add(endpoint, Fault.drop_after())
    assert await delete() is None
    assert emulator.request_count(endpoint) == 2
    with pytest.raises(NotFoundError):
        await get()


async def test_a_raw_delete_done_by_its_retry_is_not_marked_reconciled(
    platform: AsyncPlatformClient, emulator: Emulator, seeded: Seeded
) -> None:
    """A raw delete whose retry met "Not found" is done, but nothing was read back: the raw
    response is the retry's 404, not marked ``reconciled``."""
    emulator.fault_plan.add("deleteContactCompany", Fault.drop_after())
    raw = await platform.with_raw_response.project(emulator.project_uid).companies.delete(
        seeded.company
    )
    assert (raw.status, raw.attempts, raw.reconciled) == (404, 2, False)
    assert raw.parse() is None


# -- who may do what --------------------------------------------------------------------------


async def token_client(emulator: Emulator, token: Token, fake: FakeClock) -> AsyncPlatformClient:
    emulator.tokens[token.secret] = token
    return AsyncPlatformClient(
        token.secret,
        base_url=emulator.base_url,
        retry=policy(fake),
        rate_limit=RateLimit(enabled=False),
    )


@pytest.mark.parametrize(
    ("token", "rights"),
    [
        (Token("api-v1-viewer", role="viewer"), (True, False)),
        (Token("api-v1-operator", role="operator"), (True, False)),
        (Token("api-v1-trainer", role="trainer"), (False, False)),
        (Token("api-v1-editor", role="editor"), (True, True)),
        (Token("api-v1-c-read", role="viewer", permissions={"Contacts": {"Read"}}), (True, False)),
        (Token("api-v1-c-write", role="viewer", permissions={"Contacts": {"Write"}}), (True, True)),
        (Token("api-v1-t-only", role="viewer", permissions={"Training": {"Read"}}), (False, False)),
    ],
    ids=lambda value: value.secret.removeprefix("api-v1-") if isinstance(value, Token) else "",
)
async def test_permissions_follow_contacts_read_and_write(
    emulator: Emulator,
    seeded: Seeded,
    fake_clock: FakeClock,
    token: Token,
    rights: tuple[bool, bool],
) -> None:
    """Reads need Contacts › Read (or Write), writes Contacts › Write; a refusal is
    PermissionDeniedError naming the permission, never retried, and nothing is stored."""
    reads, writes = rights
    async with await token_client(emulator, token, fake_clock) as client:
        bot = client.project(emulator.project_uid)
        read_calls = [lambda: bot.contacts.get(seeded.ada), bot.tags.list]
        write_calls = [lambda: bot.tags.create("new"), lambda: bot.companies.delete(seeded.company)]
        for calls, allowed, needs in (
            (read_calls, reads, "Contacts › Read"),
            (write_calls, writes, "Contacts › Write"),
        ):
            for call in calls:
                if allowed:
                    await call()
                    continue
                before = len(emulator.requests)
                with pytest.raises(PermissionDeniedError) as raised:
                    await call()
                assert f"it needs {needs}" in str(raised.value)
                assert len(emulator.requests) == before + 1
    assert emulator.written("createContactTag") == (1 if writes else 0)


async def test_a_project_outside_the_tokens_scope_or_unknown(
    emulator: Emulator, seeded: Seeded, fake_clock: FakeClock
) -> None:
    """A token scoped to another project is refused (403); an unknown project is "Not
    found"; a revoked token is an AuthenticationError that says so."""
    other = emulator.projects[1].project_uid
    scoped = Token("api-v1-scoped", projects=frozenset({other}))
    async with await token_client(emulator, scoped, fake_clock) as client:
        with pytest.raises(PermissionDeniedError):
            await client.project(emulator.project_uid).contacts.list()
        assert (await client.project(other).contacts.list()).total == 0
        with pytest.raises(NotFoundError):
            await client.project("no-such-project").tags.list()
        emulator.tokens["api-v1-scoped"].status = "revoked"
        with pytest.raises(AuthenticationError, match="revoked"):
            await client.project(other).contacts.list()


# -- arguments checked before any I/O ---------------------------------------------------------

NAN = math.nan
CONDITION = {"key": "tags", "value": "vip"}

BAD_CALLS: list[Any] = [
    (lambda b: b.contacts.list(type="VIP"), "type must be one of 'ALL', 'USERS', 'LEADS', 'SPAM'"),
    (lambda b: b.contacts.list(type=3), "got 3"),
    (lambda b: b.contacts.list(tags=5), "tags must be a list of str"),
    (lambda b: b.contacts.list(list_id=0), "list_id must be an id"),
    (lambda b: b.contacts.list(exclude_spam="yes"), "exclude_spam must be True or False"),
    (lambda b: b.contacts.list(date_from="2024-13-01"), "date_from must be a date"),
    (lambda b: b.contacts.list(date_from="2024-07-05", date_to="2024-07-01"), "is after"),
    (lambda b: b.contacts.list(search=7), "search must be a str"),
    (lambda b: b.contacts.list(order="newest"), "order must be 'ASC' or 'DESC'"),
    (lambda b: b.contacts.list(limit=101), "limit must be an int from 1 to 100"),
    (lambda b: b.contacts.get("abc"), "contact_id must be an id: an int of at least 1"),
    (lambda b: b.contacts.get(True), "got True"),
    (lambda b: b.contacts.get(-4), "got -4"),
    (lambda b: b.contacts.link_company(1, "acme"), "company_id must be an id"),
    (lambda b: b.contacts.link_tags(1, []), "tags must name at least one tag"),
    (lambda b: b.contacts.link_tags(1, " , "), "tags must name at least one tag"),
    (lambda b: b.contacts.link_tags(1, ["a,b"]), "cannot contain a comma"),
    (lambda b: b.contact_lists.create(" ", {"tags": "vip"}), "name must be a non-blank str"),
    (lambda b: b.contact_lists.create("x", "tags=vip"), "filter_by must be a dict"),
    (lambda b: b.contact_lists.create("x", {}), "at least one condition"),
    (lambda b: b.contact_lists.create("x", {"conditions": []}), "at least one condition"),
    (
        lambda b: b.contact_lists.create("x", {"operator": "xor", "conditions": [CONDITION]}),
        "operator must be 'and' or 'or', got 'xor'",
    ),
    (lambda b: b.contact_lists.create("x", {"operator": "or"}), "conditions must be a list"),
    (
        lambda b: b.contact_lists.create("x", {"conditions": [CONDITION], "limit": 3}),
        "unexpected keys ['limit']",
    ),
    (lambda b: b.contact_lists.create("x", {"conditions": ["tags=vip"]}), "['conditions'][0]"),
    (
        lambda b: b.contact_lists.create("x", {"conditions": [{"key": "tags", "vaule": 1}]}),
        "unexpected keys ['vaule']",
    ),
    (lambda b: b.contact_lists.create("x", {"conditions": [{"key": "a"}]}), "has no 'value'"),
    (
        lambda b: b.contact_lists.create("x", {"conditions": [{"value": "vip"}]}),
        "'key' must be a non-blank str",
    ),
    (
        lambda b: b.contact_lists.create("x", {"conditions": [{**CONDITION, "model": ""}]}),
        "'model' must be a non-blank str",
    ),
    (lambda b: b.contact_lists.create("x", {"tags": ["vip"]}), "value must be a str, a number"),
    (lambda b: b.contact_lists.create("x", {"score": NAN}), "value must be a str, a number"),
    (lambda b: b.contact_lists.create("x", {"tags": "vip"}, icon=" "), "icon must be"),
    (lambda b: b.contact_lists.update(1), "nothing to update"),
    (lambda b: b.contact_lists.update(0, name="x"), "list_id must be an id"),
    (lambda b: b.contact_lists.update(1, filter_by={}), "at least one condition"),
    (lambda b: b.contact_lists.delete(None), "list_id must be an id"),
    (lambda b: b.companies.get("61a"), "company_id must be an id"),
    (lambda b: b.companies.delete(1.0), "company_id must be an id"),
    (lambda b: b.tags.create("a,b"), "cannot contain a comma"),
    (lambda b: b.tags.create("  "), "name must be a non-blank str"),
    (lambda b: b.tags.list(limit=0), "limit must be an int from 1 to 100"),
    (lambda b: b.tags.list(page=0), "page must be an int of at least 1"),
]


@pytest.mark.parametrize(("call", "named"), BAD_CALLS)
async def test_bad_arguments_fail_before_any_request(
    bot: ProjectView, emulator: Emulator, call: Any, named: str
) -> None:
    """A bad argument is a ConfigurationError naming it and what is expected, and no request
    is made."""
    with pytest.raises(ConfigurationError) as raised:
        await call(bot)
    assert named in str(raised.value)
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"tags": "vip"}, FILTER),
        ({"conditions": [{"key": "tags", "value": "vip"}]}, FILTER),
        ({**FILTER, "operator": "AND"}, FILTER),
        (
            {"a": 1, "b": True},
            {
                "operator": "and",
                "conditions": [
                    {"model": "CONTACTS", "key": "a", "operator": "eq", "value": 1},
                    {"model": "CONTACTS", "key": "b", "operator": "eq", "value": True},
                ],
            },
        ),
        (
            {"operator": "or", "conditions": [{"key": "x", "value": "y", "operator": "ne",
                                               "model": "COMPANY"}]},
            {"operator": "or", "conditions": [{"model": "COMPANY", "key": "x", "operator": "ne",
                                               "value": "y"}]},
        ),
    ],
    ids=["plain", "conditions-only", "upper-operator", "plain-numbers", "other-operator"],
)  # fmt: skip
def test_contact_filter_puts_either_form_in_the_services(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    """A plain dict becomes "and" of "eq" conditions; the service's form gets its defaults and
    a lower-case operator, and keeps operators and models the client does not know."""
    assert contact_filter(given) == expected


def test_the_emulator_refuses_bad_seeds(emulator: Emulator) -> None:
    """add_contact refuses an unknown type, company or project; add_company an unknown
    project."""
    with pytest.raises(ValueError, match="type must be one of USERS, LEADS, SPAM"):
        emulator.add_contact("x", type="VIP")
    with pytest.raises(ValueError, match="no company 99"):
        emulator.add_contact("x", company_id=99)
    with pytest.raises(ValueError, match="no project"):
        emulator.add_contact("x", project_uid="nope")
    with pytest.raises(ValueError, match="no project"):
        emulator.add_company("x", project_uid="nope")


# -- the wire, against a recording server -----------------------------------------------------


class Wire(RecordingServer):
    """A recording server whose replies are the envelope's fields beside type and message (by
    default, empty data of the endpoint's shape)."""

    def answer(self, name: str) -> object:
        reply = self.replies.get(name, {"data": [] if name.startswith("getAll") else {}})
        return {"type": "RXSUCCESS", "message": "ok", **reply} if isinstance(reply, dict) else reply


@pytest.fixture
async def wire(fake_clock: FakeClock) -> AsyncIterator[tuple[Wire, ProjectView]]:
    """The server and a project view of a client whose base URL is it."""
    server = Wire()
    async with platform_client(server, retry=policy(fake_clock)) as client:
        yield server, client.project("p-1")


WIRE_CALLS: list[Any] = [
    pytest.param(
        lambda b: b.contacts.list(),
        "getAllContacts",
        {"project_uid": "p-1", "page": 1, "limit": 10},
        id="list-bare",
    ),
    pytest.param(
        lambda b: b.contacts.list(
            type=ContactType.LEADS,
            search="ada",
            tags=["vip", "newsletter"],
            list_id="41",
            exclude_spam=False,
            date_from=date(2024, 7, 1),
            date_to="2024-07-31",
            order="desc",
            page=2,
            limit=50,
        ),
        "getAllContacts",
        {
            "project_uid": "p-1",
            "type": "LEADS",
            "search": "ada",
            "tags": "vip,newsletter",
            "list_id": 41,
            "exclude_spam": False,
            "from": "2024-07-01",
            "to": "2024-07-31",
            "orderBy": "DESC",
            "page": 2,
            "limit": 50,
        },
        id="list-every-filter",
    ),
    pytest.param(
        lambda b: b.contacts.get(5501),
        "getContactDetail",
        {"project_uid": "p-1", "contact_id": 5501},
        id="get",
    ),
    pytest.param(
        lambda b: b.contacts.link_company(5501, 61),
        "linkContactToCompany",
        {"project_uid": "p-1", "contact_id": 5501, "company_id": 61},
        id="link-company",
    ),
    pytest.param(
        lambda b: b.contacts.link_company(5501, None),
        "linkContactToCompany",
        {"project_uid": "p-1", "contact_id": 5501, "company_id": None},
        id="unlink-company",
    ),
    pytest.param(
        lambda b: b.contacts.link_tags(5501, ("vip", " newsletter ")),
        "linkContactTags",
        {"project_uid": "p-1", "contact_id": 5501, "tags": "vip,newsletter"},
        id="link-tags",
    ),
    pytest.param(
        lambda b: b.contact_lists.create("VIP", {"tags": "vip"}),
        "createContactList",
        {"project_uid": "p-1", "name": "VIP", "filter_by": FILTER},
        id="create-list-plain",
    ),
    pytest.param(
        lambda b: b.contact_lists.create(
            "VIP", {"operator": "OR", "conditions": [{"key": "tags", "value": "vip"}]}, icon="star"
        ),
        "createContactList",
        {
            "project_uid": "p-1",
            "name": "VIP",
            "filter_by": {**FILTER, "operator": "or"},
            "icon": "star",
        },
        id="create-list-service-form",
    ),
    pytest.param(
        lambda b: b.contact_lists.update(41, filter_by=FILTER),
        "updateContactList",
        {"project_uid": "p-1", "list_id": 41, "filter_by": FILTER},
        id="update-list",
    ),
    pytest.param(
        lambda b: b.contact_lists.update(41, name="VIP", icon="star"),
        "updateContactList",
        {"project_uid": "p-1", "list_id": 41, "name": "VIP", "icon": "star"},
        id="rename-list",
    ),
    pytest.param(
        lambda b: b.contact_lists.delete(41),
        "deleteContactList",
        {"project_uid": "p-1", "list_id": 41},
        id="delete-list",
    ),
    pytest.param(
        lambda b: b.companies.get(61),
        "getContactCompanyDetails",
        {"project_uid": "p-1", "company_id": 61},
        id="get-company",
    ),
    pytest.param(
        lambda b: b.companies.delete(61),
        "deleteContactCompany",
        {"project_uid": "p-1", "company_id": 61},
        id="delete-company",
    ),
    pytest.param(
        lambda b: b.tags.list(search="vi", order="ASC", limit=100),
        "getAllContactTags",
        {"project_uid": "p-1", "search": "vi", "orderBy": "ASC", "page": 1, "limit": 100},
        id="list-tags",
    ),
    pytest.param(
        lambda b: b.tags.create("churn-risk"),
        "createContactTag",
        {"project_uid": "p-1", "name": "churn-risk"},
        id="create-tag",
    ),
]


@pytest.mark.parametrize(("call", "endpoint", "body"), WIRE_CALLS)
async def test_the_wire_format(
    wire: tuple[Wire, ProjectView], call: Any, endpoint: str, body: dict[str, Any]
) -> None:
    """Each method posts JSON to /chatbot/v1/<name> with the token only as a Bearer header
    (no api-key) and exactly the documented fields."""
    server, bot = wire
    await call(bot)
    (seen,) = server.seen
    assert seen.path == f"/chatbot/v1/{endpoint}"
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in {name.lower() for name in seen.headers}
    assert seen.content_type == "application/json"
    assert seen.body == body


CONTACT = {
    "id": 5501,
    "project_id": 197,
    "name": "Ada Lovelace",
    "type": "LEADS",
    "tags": "vip,newsletter",
    "company_id": 61,
    "createdAt": "2024-07-01T08:00:00.000Z",
}


@pytest.mark.parametrize(
    ("reply", "ids", "total"),
    [
        ({"data": [CONTACT], "total": 7}, [5501], 7),
        ({"data": {"count": 3, "rows": [CONTACT, CONTACT]}}, [5501, 5501], 3),
        ({"data": [CONTACT]}, [5501], None),
        ({"data": None, "total": 0}, [], 0),
        ({}, [], None),
        ({"data": [CONTACT, "junk", 4], "total": "1"}, [5501], 1),
    ],
    ids=["total-beside", "count-rows", "no-total", "null-data", "no-data", "junk-items"],
)
async def test_contact_pages_in_every_shape(
    wire: tuple[Wire, ProjectView], reply: dict[str, Any], ids: list[int], total: int | None
) -> None:
    """A contacts page decodes whether the total is beside data, inside it as {count, rows},
    or absent, and whether data is missing or null."""
    server, bot = wire
    server.replies["getAllContacts"] = reply
    page = await bot.contacts.list()
    assert ([c.id for c in page], page.total) == (ids, total)


@pytest.mark.parametrize(
    ("wire_tags", "expected"),
    [("vip,newsletter", ("vip", "newsletter")), (["vip", "newsletter"], ("vip", "newsletter")),
     (None, ()), ("", ())],
)  # fmt: skip
async def test_a_contacts_tags_as_text_list_or_nothing(
    wire: tuple[Wire, ProjectView], wire_tags: object, expected: tuple[str, ...]
) -> None:
    """A contact's tags decode from comma-separated text, a list, null or empty alike; an
    unknown type stays a plain str."""
    server, bot = wire
    server.replies["getContactDetail"] = {"data": {**CONTACT, "tags": wire_tags, "type": "VIP"}}
    contact = await bot.contacts.get(5501)
    assert contact.tags == expected
    assert (contact.type, type(contact.type)) == ("VIP", str)


async def test_a_company_with_or_without_contacts(wire: tuple[Wire, ProjectView]) -> None:
    """A company decodes with its contacts, or with none when the list is null or missing."""
    server, bot = wire
    company = {"id": 61, "name": "Analytical Engines Ltd", "website": None}
    server.replies["getContactCompanyDetails"] = {"data": {**company, "contacts": [CONTACT]}}
    assert [c.tags for c in (await bot.companies.get(61)).contacts] == [("vip", "newsletter")]
    for shape in ({**company, "contacts": None}, company):
        server.replies["getContactCompanyDetails"] = {"data": shape}
        assert (await bot.companies.get(61)).contacts == ()


@pytest.mark.parametrize("data", [None, [], "ok", {"id": 1}])
async def test_writes_without_a_result_ignore_data(
    wire: tuple[Wire, ProjectView], data: object
) -> None:
    """Links, updates and deletes return None whatever data the reply carries, or none."""
    server, bot = wire
    for endpoint in ("linkContactToCompany", "linkContactTags", "updateContactList",
                     "deleteContactList", "deleteContactCompany"):  # fmt: skip
        server.replies[endpoint] = {"data": data}
    assert await bot.contacts.link_company(1, 2) is None
    assert await bot.contacts.link_tags(1, "vip") is None
    assert await bot.contact_lists.update(1, name="x") is None
    assert await bot.contact_lists.delete(1) is None
    assert await bot.companies.delete(1) is None


@pytest.mark.parametrize(
    ("call", "endpoint"),
    [
        (lambda b: b.contacts.get(1), "getContactDetail"),
        (lambda b: b.companies.get(1), "getContactCompanyDetails"),
        (lambda b: b.tags.create("vip"), "createContactTag"),
    ],
    ids=["contact", "company", "tag"],
)
async def test_an_object_reply_without_an_object_is_unexpected(
    wire: tuple[Wire, ProjectView], call: Any, endpoint: str
) -> None:
    """A reply whose data is not an object, where one is documented, is a typed error (a
    read's after its retries; a create's in doubt), never a raw exception."""
    server, bot = wire
    server.replies[endpoint] = {"data": [CONTACT]}
    expected = DeliveryUnknownError if endpoint.startswith("create") else UnexpectedResponseError
    with pytest.raises(expected):
        await call(bot)


@pytest.mark.parametrize(
    ("sample", "call"),
    [
        ("getAllContacts.json", lambda b: b.contacts.list()),
        ("getContactDetail.json", lambda b: b.contacts.get(5501)),
        ("getContactCompanyDetails.json", lambda b: b.companies.get(61)),
        ("createContactList.json", lambda b: b.contact_lists.create("VIP leads", FILTER)),
        ("getAllContactTags.json", lambda b: b.tags.list()),
        ("createContactTag.json", lambda b: b.tags.create("churn-risk")),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_the_samples_decode_through_the_methods(
    wire: tuple[Wire, ProjectView], sample: str, call: Any
) -> None:
    """Each shared sample, served as the reply, comes back from its method fully decoded:
    ids, names, tags and timestamps."""
    server, bot = wire
    envelope = json.loads((SAMPLES / sample).read_text(encoding="utf-8"))
    server.replies[sample.removesuffix(".json")] = envelope
    result = await call(bot)
    first = next(iter(result)) if isinstance(envelope["data"], list) else result
    data = envelope["data"][0] if isinstance(envelope["data"], list) else envelope["data"]
    assert (first.id, first.name) == (data["id"], data["name"])
    assert first.created_at == datetime.fromisoformat(data["createdAt"].replace("Z", "+00:00"))
    assert first.raw == data
    if isinstance(first, Company):
        assert first.contacts[0].tags == ("vip", "newsletter")
    if isinstance(first, Contact):
        assert (first.tags, first.type) == (("vip", "newsletter"), ContactType.LEADS)
    if isinstance(first, ContactList):
        assert first.filter_by == FILTER

"""Decoding: the sample replies through the client's converter and its strict twin."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest

from yourgpt_async import (
    AILogEntry,
    ChatMode,
    Choice,
    ContentType,
    Message,
    Page,
    SendBy,
    Session,
    SessionMessage,
    SessionState,
)
from yourgpt_async._converter import converter, make_converter
from yourgpt_async._endpoints import Endpoint, registry
from yourgpt_async._wire import decode_reply

SAMPLES = Path(__file__).parent / "samples"
# The originals, beside the repository (CI clones it next to a `shared/` folder).
SHARED_SAMPLES = Path(__file__).parents[2] / "shared" / "samples"

strict_converter = make_converter(strict=True)


def endpoint_of_sample(name: str) -> Endpoint[Any] | None:
    """The declared endpoint a sample is a reply of, by its file name (``getSessions.json``,
    ``createSession_number_uid.json``, ``platform_sendMessage.json``); None for the errors."""
    stem = name.removesuffix(".json").removeprefix("platform_")
    endpoints = registry()
    for wire in (stem, stem.split("_", 1)[0]):
        if wire in endpoints:
            return endpoints[wire]
    return None


def model_of_sample(name: str) -> type[Any] | None:
    """The model a sample's `data` decodes to (each item, for a list)."""
    endpoint = endpoint_of_sample(name)
    return None if endpoint is None else endpoint.reply.model


SAMPLE_MODELS: dict[str, type[Any] | None] = {
    path.name: model_of_sample(path.name) for path in sorted(SAMPLES.glob("*.json"))
}

# Sample fields that no model names on purpose: they are reachable only through `raw`, and are
# the only fields stripped before the strict decode. A new field in a sample, or a model field
# renamed away from its wire name, fails the strict decode until it is named here or modelled.
LEFT_TO_RAW: dict[str, frozenset[str]] = {
    "getSessions.json": frozenset({"some_new_field_added_later"}),
    "getChatbotExecutionLogs.json": frozenset({"some_new_field_added_later"}),
}

DECODABLE = sorted(name for name, model in SAMPLE_MODELS.items() if model is not None)
UTC_ZERO = timedelta(0)


def load(name: str) -> Any:
    """The parsed JSON of a sample, exactly as json.loads gives it."""
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


# Samples of lists whose `data` is an object holding the list, by the list's key.
NESTED_LISTS: dict[str, str] = {"getOrganizationMembers.json": "organizationMember"}


def items(name: str) -> list[dict[str, Any]]:
    """The objects in a sample's `data`: the object itself, or each list item, each of its
    `rows` (getProjectText's `{count, rows}`), or for a list nested in an object each of its
    items; none when the reply has no data."""
    data = load(name).get("data")
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if name in NESTED_LISTS:
        data = data[NESTED_LISTS[name]]
    return data if isinstance(data, list) else [] if data is None else [data]


def field_names(model: type[Any]) -> set[str]:
    return {field.name for field in attrs.fields(model)} - {"raw"}


# -- every sample -----------------------------------------------------------------------------


def test_every_sample_is_classified() -> None:
    """Each sample is a reply of a declared endpoint or an error envelope, so a new sample
    cannot go untested."""
    for name in SAMPLE_MODELS:
        assert endpoint_of_sample(name) is not None or name.startswith("error_"), name


@pytest.mark.parametrize("name", sorted(n for n in SAMPLE_MODELS if endpoint_of_sample(n)))
def test_sample_decodes_through_its_endpoint(name: str) -> None:
    """Each success sample, served as a reply, decodes through its endpoint's declaration."""
    endpoint = endpoint_of_sample(name)
    assert endpoint is not None
    result = decode_reply(endpoint, 200, {}, (SAMPLES / name).read_bytes())
    assert not isinstance(result, Exception), result


def test_samples_are_copies_of_the_shared_ones() -> None:
    """tests/samples holds exactly the shared spec's samples, unchanged (when shared/ is there)."""
    if not SHARED_SAMPLES.is_dir():
        pytest.skip(f"no shared samples at {SHARED_SAMPLES}")
    shared = {path.name: path.read_bytes() for path in SHARED_SAMPLES.glob("*.json")}
    ours = {path.name: path.read_bytes() for path in SAMPLES.glob("*.json")}
    assert ours == shared


@pytest.mark.parametrize("name", DECODABLE)
def test_sample_decodes_with_the_client_converter(name: str) -> None:
    """Every success sample decodes leniently, and raw keeps the dict it came from."""
    model = SAMPLE_MODELS[name]
    assert model is not None
    for item in items(name):
        decoded = converter.structure(item, model)
        assert isinstance(decoded, model)
        assert decoded.raw == item


@pytest.mark.parametrize("name", DECODABLE)
def test_sample_decodes_with_the_strict_twin(name: str) -> None:
    """Every success sample decodes with forbid_extra_keys once the LEFT_TO_RAW fields go."""
    model = SAMPLE_MODELS[name]
    assert model is not None
    left = LEFT_TO_RAW.get(name, frozenset())
    for item in items(name):
        kept = {key: value for key, value in item.items() if key not in left}
        strict = strict_converter.structure(kept, model)
        assert strict == converter.structure(item, model)


@pytest.mark.parametrize(("name", "fields"), sorted(LEFT_TO_RAW.items()))
def test_left_to_raw_fields_are_real_and_only_in_raw(name: str, fields: frozenset[str]) -> None:
    """Each LEFT_TO_RAW field is in its sample, fails the strict decode, and stays in raw."""
    model = SAMPLE_MODELS[name]
    assert model is not None
    carriers = [item for item in items(name) if fields & item.keys()]
    assert carriers, f"{name} no longer carries {sorted(fields)}: drop them from LEFT_TO_RAW"
    for item in carriers:
        assert not fields & field_names(model)
        with pytest.raises(cattrs.ClassValidationError):
            strict_converter.structure(item, model)
        decoded = converter.structure(item, model)
        for field in fields & item.keys():
            assert decoded.raw[field] == item[field]


def test_strict_twin_rejects_an_unknown_field() -> None:
    """The strict converter fails on a field no model names; the lenient one keeps it in raw."""
    item = {**items("updateSession.json")[0], "brand_new": 1}
    with pytest.raises(cattrs.ClassValidationError):
        strict_converter.structure(item, Session)
    assert converter.structure(item, Session).raw["brand_new"] == 1


# -- session_uid ------------------------------------------------------------------------------


def test_bare_17_digit_session_uid_is_the_exact_string() -> None:
    """A session_uid sent as a bare JSON number above 2**53 decodes to its exact digits."""
    text = (SAMPLES / "createSession_number_uid.json").read_text(encoding="utf-8")
    assert '"session_uid": 17226012685401506,' in text  # the sample really is a bare number
    data = json.loads(text)["data"]
    assert data["session_uid"] > 2**53
    for conv in (converter, strict_converter):
        assert conv.structure(data, Session).session_uid == "17226012685401506"


def test_session_uid_number_and_string_decode_alike() -> None:
    """In getSessions a number uid and a string uid both come out as str."""
    raw_uids = [item["session_uid"] for item in items("getSessions.json")]
    assert raw_uids == ["17226012685401506", 17226012685401507]
    assert int(float(raw_uids[1])) != raw_uids[1]  # odd, above 2**53: a float would lose it
    uids = [converter.structure(item, Session).session_uid for item in items("getSessions.json")]
    assert uids == ["17226012685401506", "17226012685401507"]
    assert all(type(uid) is str for uid in uids)


def test_message_session_uid_number_is_the_exact_string() -> None:
    """A sendMessage reply with a numeric session_uid keeps its exact digits as str."""
    data = json.loads('{"session_uid": 17226012685401506, "message": "hi"}')
    assert converter.structure(data, Message).session_uid == "17226012685401506"


# -- timestamps -------------------------------------------------------------------------------


def test_camel_and_snake_case_timestamps_are_aware_utc() -> None:
    """createdAt (createSession) and created_at (getSessions) both give aware UTC datetimes."""
    camel = converter.structure(items("createSession_number_uid.json")[0], Session)
    snake = converter.structure(items("getSessions.json")[0], Session)
    assert camel.created_at == datetime(2024, 8, 2, 12, 17, 48, 540000, tzinfo=timezone.utc)
    assert snake.created_at == datetime(2024, 8, 2, 12, 17, 48, tzinfo=timezone.utc)
    assert snake.updated_at == datetime(2024, 8, 2, 12, 25, 10, tzinfo=timezone.utc)
    assert snake.last_message_time == datetime(2024, 8, 2, 12, 25, 9, tzinfo=timezone.utc)
    for moment in (camel.created_at, camel.updated_at, snake.created_at, snake.updated_at):
        assert moment is not None
        assert moment.utcoffset() == UTC_ZERO


def test_message_timestamps_are_aware_utc() -> None:
    """getSessionMessages' createdAt decodes to aware UTC; a null deleted_at stays None."""
    first = converter.structure(items("getSessionMessages.json")[0], SessionMessage)
    assert first.created_at == datetime(2024, 8, 2, 12, 25, 8, tzinfo=timezone.utc)
    assert first.created_at is not None
    assert first.created_at.utcoffset() == UTC_ZERO
    assert first.deleted_at is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-08-02T12:17:48.540Z", datetime(2024, 8, 2, 12, 17, 48, 540000, tzinfo=timezone.utc)),
        ("2024-08-02T14:17:48+02:00", datetime(2024, 8, 2, 12, 17, 48, tzinfo=timezone.utc)),
        ("2024-08-02T12:17:48", datetime(2024, 8, 2, 12, 17, 48, tzinfo=timezone.utc)),
    ],
)
def test_timestamps_are_normalised_to_utc(text: str, expected: datetime) -> None:
    """A Z, an offset or no zone at all all decode to the same instant with a UTC offset of 0."""
    moment = converter.structure({"createdAt": text}, Session).created_at
    assert moment == expected
    assert moment is not None
    assert moment.utcoffset() == UTC_ZERO


def test_unreadable_timestamp_is_none_and_kept_in_raw() -> None:
    """A timestamp that cannot be parsed decodes to None rather than failing; raw keeps it."""
    session = converter.structure({"createdAt": "last tuesday", "updated_at": ""}, Session)
    assert (session.created_at, session.updated_at) == (None, None)
    assert session.raw["createdAt"] == "last tuesday"


# -- enums ------------------------------------------------------------------------------------


def test_chat_mode_1_is_kept_as_the_string_1() -> None:
    """The createSession example's chat_mode "1" stays the plain string "1", not an enum."""
    session = converter.structure(items("createSession_number_uid.json")[0], Session)
    assert session.chat_mode == "1"
    assert type(session.chat_mode) is str


def test_known_enum_values_become_members() -> None:
    """Documented values decode to the enum members."""
    session = converter.structure(items("updateSession.json")[0], Session)
    assert session.chat_mode is ChatMode.OPERATOR
    assert session.state is SessionState.UNRESOLVED
    reply = converter.structure(items("sendMessage_user.json")[0], Message)
    assert reply.send_by is SendBy.ASSISTANT
    assert reply.content_type is ContentType.PICKER


def test_unknown_enum_values_are_kept_as_str() -> None:
    """A value no enum knows is kept as a plain str on every enum-typed field."""
    session = converter.structure(
        {"chat_mode": "supervisor", "state": "archived", "last_message_content_type": "carousel"},
        Session,
    )
    message = converter.structure({"send_by": "system", "content_type": "sticker"}, Message)
    listed = converter.structure({"send_by": "bot", "content_type": "location"}, SessionMessage)
    values = [
        session.chat_mode,
        session.state,
        session.last_message_content_type,
        message.send_by,
        message.content_type,
        listed.send_by,
        listed.content_type,
    ]
    assert values == ["supervisor", "archived", "carousel", "system", "sticker", "bot", "location"]
    assert all(type(value) is str for value in values)


# -- nulls, missing fields, raw ---------------------------------------------------------------


@pytest.mark.parametrize("model", [Session, Message, SessionMessage, Choice, AILogEntry])
def test_missing_fields_take_defaults(model: type[Any]) -> None:
    """An empty object decodes to the model's defaults, with the strict twin too."""
    assert converter.structure({}, model) == model()
    assert strict_converter.structure({}, model) == model()


@pytest.mark.parametrize("model", [Session, Message, SessionMessage, Choice, AILogEntry])
def test_null_fields_are_tolerated(model: type[Any]) -> None:
    """Every field sent as null decodes without error and never to the text "None"."""
    decoded = converter.structure(dict.fromkeys(field_names(model)), model)
    for name in field_names(model):
        assert getattr(decoded, name) != "None", name


def test_nulls_in_text_fields_are_empty_not_none_text() -> None:
    """A null message or choice text decodes to "" (the field's default), not "None"."""
    reply = converter.structure(
        {"message": None, "choices": [{"text": None, "value": None, "icon": None}]}, Message
    )
    assert reply.message == ""
    assert reply.choices == (Choice(text="", value="", icon=None),)


@pytest.mark.parametrize(("wire", "expected"), [(True, True), (False, False), ("false", False),
                                                ("true", True), (0, False), (1, True)])  # fmt: skip
def test_choice_enabled_reads_bools_numbers_and_strings(wire: object, expected: bool) -> None:
    """A choice's enabled flag reads JSON bools, 0/1 and "true"/"false" as what they mean."""
    choice = converter.structure({"text": "t", "value": "v", "enabled": wire}, Choice)
    assert choice.enabled is expected


def test_lenient_numbers_and_flags() -> None:
    """Numeric ids sent as strings become ints; 0/1 flags become bools; junk becomes None."""
    message = converter.structure(
        {"id": "241042", "session_id": "oops", "seen": 1, "delivered": 0}, SessionMessage
    )
    assert (message.id, message.session_id) == (241042, None)
    assert (message.seen, message.delivered) == (True, False)


def test_null_lists_are_empty_tuples() -> None:
    """choices and AILog sent as null (or not a list) decode to empty tuples."""
    message = converter.structure({"choices": None, "AILog": "n/a"}, SessionMessage)
    assert (message.choices, message.ai_log) == ((), ())


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("vip,newsletter", ("vip", "newsletter")),
        (" vip , ,newsletter,", ("vip", "newsletter")),
        ("", ()),
        (None, ()),
        (["vip", " newsletter ", "", None, 7, True], ("vip", "newsletter", "7")),
        ({"vip": 1}, ()),
    ],
)
def test_tags_read_a_comma_separated_str_or_a_list(wire: object, expected: tuple[str, ...]) -> None:
    """tuple[str, ...] fields read "a,b" or a list, stripped, empties and junk dropped."""
    assert converter.structure(wire, tuple[str, ...]) == expected
    assert make_converter(strict=True).structure(wire, tuple[str, ...]) == expected


def test_raw_keeps_the_whole_decoded_dict() -> None:
    """raw is the dict as received, including fields the model does not name."""
    item = items("getSessions.json")[1]
    session = converter.structure(item, Session)
    assert session.raw == item
    assert session.raw["some_new_field_added_later"] == [1, 2]


def test_raw_is_left_out_of_equality() -> None:
    """Two decodings that differ only in unnamed fields compare equal (raw is not compared)."""
    item = items("updateSession.json")[0]
    assert converter.structure(item, Session) == converter.structure({**item, "x": 1}, Session)


def test_nested_models_decode() -> None:
    """Picker choices and AILog entries decode into their own models."""
    reply = converter.structure(items("sendMessage_user.json")[0], Message)
    assert [choice.value for choice in reply.choices] == ["like", "dislike", "requesthumanoperator"]
    assert reply.choices[0] == Choice(text="I am satisfied", value="like", icon="👍", enabled=True)
    assert reply.id == reply.message_id == 241043
    answer = converter.structure(items("getSessionMessages.json")[1], SessionMessage)
    assert answer.ai_log == (
        AILogEntry(id=991, query_message_id=241042, reply_message_id=241043, source_node=None),
    )


def test_message_id_alone_fills_id() -> None:
    """A reply that only sends message_id still has its id."""
    assert converter.structure({"message_id": 7}, Message).id == 7


# -- Page -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "page", "limit", "total", "has_more"),
    [
        (2, 1, 2, 5, True),  # 2 of 5 seen
        (2, 2, 2, 5, True),  # 4 of 5 seen
        (1, 3, 2, 5, False),  # the last, short page
        (2, 2, 2, 4, False),  # exactly at the end
        (0, 4, 2, 5, False),  # past the end
        (3, 1, 3, None, True),  # no total: a full page may have a successor
        (2, 1, 3, None, False),  # no total: a short page is the last
        (0, 1, 3, None, False),
    ],
)
def test_page_has_more(
    count: int, page: int, limit: int, total: int | None, has_more: bool
) -> None:
    """has_more trusts total when the service sends it, else whether the page was full."""
    assert Page(items=tuple(range(count)), page=page, limit=limit, total=total).has_more is has_more


def test_page_is_a_sized_iterable_of_its_items() -> None:
    """A Page iterates over and counts its items."""
    page = Page(items=("a", "b"), page=1, limit=10)
    assert list(page) == ["a", "b"]
    assert len(page) == 2

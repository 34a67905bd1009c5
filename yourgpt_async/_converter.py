"""The package's own cattrs converter: every rule that turns a reply's JSON into a model.

The service's field sets drift between endpoints and over time, so decoding is lenient:
unknown fields are ignored (and kept in ``raw``), missing ones take defaults, nulls are fine,
an unknown enum value is kept as a plain ``str``, ``createdAt`` and ``created_at`` both work,
ids such as ``session_uid`` are always the exact decimal ``str``, even when sent as a 17-digit
number, names such as tags (``tuple[str, ...]``) read a comma-separated ``str`` or a list, and
a number or date out of any representable range in an optional field decodes to ``None``.
A strict twin (``make_converter(strict=True)``) forbids unknown fields, for tests that watch
for drift.

Every attrs model of :mod:`yourgpt_async.types` is registered; a new model needs an entry here
only if a field's wire name is not its own (``_RENAMES``, ``_ALIASES``) or sits deeper in the
reply (``_LIFTED``). A timestamp field ``x_at`` is read from ``xAt`` or ``x_at``, whichever
the reply has.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from . import types as models
from .types import ExecutionLog, Member, Message, Organization, Project, SessionMessage
from .types._common import Page, StrEnum

__all__ = ["converter", "make_converter", "parse_datetime", "structure"]

T = TypeVar("T")

# Fields whose wire name is not the field's own (besides the `x_at` timestamps), per model.
_RENAMES: dict[type, dict[str, str]] = {
    SessionMessage: {"ai_log": "AILog"},
    Project: {"members": "ProjectMembers"},
    Organization: {"members": "OrganizationMembers", "projects": "OrganizationProjects"},
}
# Other spellings accepted for a field's wire name: (alternative, wire).
_ALIASES: dict[type, tuple[tuple[str, str], ...]] = {
    Message: (("message_id", "id"),),
}
# Fields the client sets, never read from a reply (a service cannot claim them).
_SET_BY_CLIENT: dict[type, tuple[str, ...]] = {
    Message: ("is_ai_reply",),
}
# Fields read from inside a nested object of the reply: field -> path of keys.
_LIFTED: dict[type, dict[str, tuple[str, ...]]] = {
    ExecutionLog: {
        "task": ("data", "task"),
        "type": ("data", "type"),
        "message": ("data", "message"),
        "details": ("data", "data"),
        "session_uid": ("executionlog_session_data", "session_uid"),
    },
    # createChatbot sends widget_uid at the top; getMyProjects inside integration_setting.
    Project: {
        "widget_uid": ("integration_setting", "widget_uid"),
        "role": ("organization", "role"),
    },
    # getOrganizationMembers nests the person of a membership under "Member".
    Member: {
        "name": ("Member", "name"),
        "email": ("Member", "email"),
        "profile_pic": ("Member", "profile_pic"),
    },
    Organization: {"creator_name": ("user", "name"), "creator_email": ("user", "email")},
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _models() -> list[type]:
    """Every attrs model the package decodes replies into (pages are made, not decoded)."""
    found = [value for value in vars(models).values() if isinstance(value, type)]
    return [
        m
        for m in found
        if attrs.has(m) and not getattr(m, "__parameters__", ()) and not issubclass(m, Page)
    ]


def parse_datetime(value: object) -> datetime | None:
    """Parse the service's ISO 8601 timestamps (``2024-08-02T12:17:48.540Z``) to aware UTC.

    Returns ``None`` for ``None``, an empty string, or text that is no timestamp (the
    original stays in the model's ``raw``).
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past the last UTC datetime
        return None


def _union_args(tp: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return ()


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, StrEnum)


def _lenient_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    enum_type = next(arg for arg in _union_args(tp) if _is_enum(arg))
    members = {member.value: member for member in enum_type}  # what enum_type(value) finds

    def structure_enum(value: Any, _: Any) -> Any:
        if value is None:
            return None
        if type(value) is str and value in members:
            return members[value]
        try:
            return enum_type(value)
        except ValueError:
            return str(value)

    return structure_enum


def _optional_int(value: Any, _: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, 1e400
        return None


def _text(value: Any) -> str:
    """``value`` as text; a float that is a whole number as its exact digits.

    A 17-digit ``session_uid`` sent as ``1.7226012685401506e16`` is exactly the integer
    17226012685401506, so it becomes ``"17226012685401506"``, never ``"1.7226012685401506e+16"``.
    """
    if type(value) is float and value.is_integer():
        return str(int(value))
    return str(value)


def _optional_str(value: Any, _: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _text(value)


def _optional_bool(value: Any, _: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    return bool(_optional_bool(value, _))


def _optional_float(value: Any, _: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _optional_datetime(value: Any, _: Any) -> datetime | None:
    return parse_datetime(value)


def _optional_mapping(value: Any, _: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _names(value: Any, _: Any) -> tuple[str, ...]:
    """Tags and the like: a comma-separated ``str``, or a list of names (or of objects with a
    ``name``), as names with blanks dropped; anything else (null) is none."""
    if isinstance(value, str):
        parts: list[Any] = value.split(",")
    elif isinstance(value, list):
        parts = [item.get("name") if isinstance(item, Mapping) else item for item in value]
        parts = [p for p in parts if isinstance(p, (str, int, float)) and not isinstance(p, bool)]
    else:
        return ()
    return tuple(text for text in (_text(part).strip() for part in parts) if text)


def _str(value: Any, _: Any) -> str:
    # json.loads keeps integers exact, so str() of a 17-digit session_uid is the exact uid.
    return "" if value is None else value if isinstance(value, str) else _text(value)


def _is_exactly(expected: Any) -> Callable[[Any], bool]:
    def predicate(tp: Any) -> bool:
        return bool(tp == expected)

    return predicate


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """Build a converter for the API's models.

    Args:
        strict: Forbid fields the models do not name (for drift tests); the SDK itself uses
            the lenient one.
    """
    conv = cattrs.Converter(forbid_extra_keys=strict, detailed_validation=strict)

    # A factory: the hook for each enum union is built once, not on every value.
    conv.register_structure_hook_factory(
        lambda tp: any(_is_enum(arg) for arg in _union_args(tp)), _lenient_enum_hook
    )
    exact: list[tuple[Any, Callable[[Any, Any], Any]]] = [
        (int | None, _optional_int),
        (str | None, _optional_str),
        (bool | None, _optional_bool),
        (datetime | None, _optional_datetime),
        (float | None, _optional_float),
        (Mapping[str, Any] | None, _optional_mapping),
        (tuple[str, ...], _names),
    ]

    for tp, hook in exact:
        conv.register_structure_hook_func(_is_exactly(tp), hook)
    conv.register_structure_hook_factory(_is_tuple_of_models, _tuple_hook(conv))
    # Plain str and bool have direct hooks in cattrs, which a predicate hook does not override:
    # without these a null text would become "None" and a "false" flag True.
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(bool, _bool)

    for model in _models():
        _register_model(conv, model, strict=strict)
    return conv


def _is_tuple_of_models(tp: Any) -> bool:
    args = typing.get_args(tp)
    return (
        typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is ... and attrs.has(args[0])
    )


def _tuple_hook(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Hooks for ``tuple[Model, ...]``: a list's objects as models; anything else is empty."""

    def factory(tp: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        item = typing.get_args(tp)[0]
        hook: Callable[[Any, Any], Any] | None = None  # the item's hook, looked up on first use

        def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
            nonlocal hook
            if not isinstance(value, list):
                return ()
            if hook is None:
                hook = conv.get_structure_hook(item)
            return tuple(
                [hook(v, item) for v in value if type(v) is dict or isinstance(v, Mapping)]
            )

        return structure_tuple

    return factory


def _register_model(conv: cattrs.Converter, model: type[T], *, strict: bool) -> None:
    names = _field_names(model)
    overrides: dict[str, Any] = {"raw": override(omit=True)} if "raw" in names else {}
    aliases = list(_ALIASES.get(model, ()))
    for field in sorted(names):
        if field.endswith("_at"):  # createdAt in most replies, created_at in some
            overrides[field] = override(rename=_camel(field))
            aliases.append((field, _camel(field)))
    for field, wire in _RENAMES.get(model, {}).items():
        overrides[field] = override(rename=wire)
    for field in _SET_BY_CLIENT.get(model, ()):
        overrides[field] = override(omit=True)
    lifted = tuple(_LIFTED.get(model, {}).items())
    containers = {path[0] for _, path in lifted}
    generated = make_dict_structure_fn(model, conv, _cattrs_forbid_extra_keys=strict, **overrides)
    keeps_raw = "raw" in overrides

    def structure_model(value: Any, _: Any) -> T:
        # JSON objects are dicts: spare them the slower abstract-class check.
        if type(value) is not dict and not isinstance(value, Mapping):
            raise TypeError(
                f"expected a JSON object for {model.__name__}, got {type(value).__name__}"
            )
        source = value
        for alternative, wire in aliases:
            # Accept either spelling: fill the one the model reads from the other.
            if alternative in source:
                if wire not in source:
                    source = {**source, wire: source[alternative]}
                if strict:  # a known spelling, not drift
                    source = {k: v for k, v in source.items() if k != alternative}
        if lifted:
            source = _lift(source, lifted, containers, strict=strict)
        obj = generated(source, model)
        if keeps_raw:
            object.__setattr__(obj, "raw", value)
        return obj

    conv.register_structure_hook(model, structure_model)


def _lift(
    source: Mapping[str, Any],
    lifted: tuple[tuple[str, tuple[str, ...]], ...],
    containers: set[str],
    *,
    strict: bool,
) -> dict[str, Any]:
    """``source`` with each lifted field read from its nested path (absent if it is not there)."""
    flat = {k: v for k, v in source.items() if not (strict and k in containers)}
    for field, path in lifted:
        node: Any = source
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is not None:
            flat[field] = node
        elif field in containers:  # a container's own name: not a value of the model's
            flat.pop(field, None)
    return flat


def _field_names(model: type) -> set[str]:
    return {f.name for f in attrs.fields(model)}


converter = make_converter()
"""The lenient converter the client decodes with."""


def structure(data: Any, model: type[T]) -> T:
    """Decode ``data`` (parsed JSON) into ``model`` with the package's converter."""
    return converter.structure(data, model)

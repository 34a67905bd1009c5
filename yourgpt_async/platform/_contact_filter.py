"""A contact list's filter (``filter_by``): checked before any I/O, and put in the service's
form from either form a caller may give."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .. import _validate as check
from .._exceptions import ConfigurationError

__all__ = ["contact_filter"]

_OPERATORS: Final = ("and", "or")
_CONDITION_KEYS: Final = ("model", "key", "operator", "value")
_FILTER_FORMS: Final = (
    "{'operator': 'and' or 'or', 'conditions': [{'key': ..., 'value': ...}, ...]}, or "
    "{key: value, ...} for the contacts that match every pair"
)


def _condition(value: object, where: str) -> dict[str, Any]:
    """One condition of a filter, with the service's ``model`` and ``operator`` by default."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{where} must be a dict with 'key' and 'value', got {check.short(value)}"
        )
    unknown = sorted(str(key) for key in value if key not in _CONDITION_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where} has unexpected keys {unknown}: a condition takes 'key', 'value', "
            "'operator' (default 'eq') and 'model' (default 'CONTACTS')"
        )
    condition = {"model": "CONTACTS", "operator": "eq", **value}
    for part in ("model", "key", "operator"):
        text = condition.get(part)
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError(
                f"{where}'s {part!r} must be a non-blank str, got {check.short(text)}"
            )
    if "value" not in condition:
        raise ConfigurationError(f"{where} has no 'value' to compare {condition['key']!r} with")
    compared = condition["value"]
    if not isinstance(compared, (str, int, float)) or (
        isinstance(compared, float) and not math.isfinite(compared)
    ):
        raise ConfigurationError(
            f"{where}'s value must be a str, a number or a bool, got {check.short(compared)}"
        )
    return {part: condition[part] for part in _CONDITION_KEYS}


def contact_filter(value: object, name: str = "filter_by") -> dict[str, Any]:
    """A contact list's filter, checked and in the service's form.

    Takes the service's form, ``{"operator": "and"|"or", "conditions": [{"key": ...,
    "value": ..., "operator": "eq", "model": "CONTACTS"}, ...]}`` (``operator`` defaults to
    ``"and"``, a condition's ``operator`` to ``"eq"`` and its ``model`` to ``"CONTACTS"``), or
    a plain ``{key: value, ...}`` for the contacts that match every pair (``{"tags": "vip"}``).
    A dict with ``conditions`` or ``operator`` is the service's form.
    """
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ConfigurationError(
            f"{name} must be a dict: {_FILTER_FORMS}; got {check.short(value)}"
        )
    if "conditions" in value or "operator" in value:
        unknown = sorted(key for key in value if key not in ("operator", "conditions"))
        if unknown:
            raise ConfigurationError(
                f"{name} has unexpected keys {unknown}: it takes 'operator' and 'conditions'"
            )
        operator = value.get("operator", "and")
        if not isinstance(operator, str) or operator.lower() not in _OPERATORS:
            raise ConfigurationError(
                f"{name}'s operator must be 'and' or 'or', got {check.short(operator)}"
            )
        conditions = value.get("conditions")
        if isinstance(conditions, (str, bytes, Mapping)) or not isinstance(conditions, Sequence):
            raise ConfigurationError(
                f"{name}'s conditions must be a list of dicts with 'key' and 'value', got "
                f"{check.short(conditions)}"
            )
        made = [
            _condition(item, f"{name}['conditions'][{index}]")
            for index, item in enumerate(conditions)
        ]
        joined = operator.lower()
    else:
        made = [
            _condition({"key": key, "value": item}, f"{name}[{key!r}]")
            for key, item in value.items()
        ]
        joined = "and"
    if not made:
        raise ConfigurationError(f"{name} must hold at least one condition: {_FILTER_FORMS}")
    return {"operator": joined, "conditions": made}

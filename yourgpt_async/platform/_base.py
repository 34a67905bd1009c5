"""What the Platform API's resources share: a resource bound to one project, and the checks of
the arguments many of them take (tags, list queries)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Literal, overload

from .. import _validate as check
from .._exceptions import ConfigurationError
from .._resource import Resource, _Client

__all__ = ["ProjectResource", "list_query", "record_id", "tags"]


class ProjectResource(Resource):
    """A resource bound to one project: every request it makes carries its ``project_uid``."""

    def __init__(self, client: _Client, project_uid: str) -> None:
        super().__init__(client)
        self._project_uid = project_uid

    @property
    def project_uid(self) -> str:
        """The project this resource works on."""
        return self._project_uid

    def _payload(self, **fields: Any) -> dict[str, Any]:
        """A request body: the project's uid and every field that is not ``None``."""
        return {"project_uid": self._project_uid} | {
            name: value for name, value in fields.items() if value is not None
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} project_uid={self._project_uid!r}>"


def record_id(name: str, value: object) -> int:
    """A record's id, as the service numbers them: an ``int`` from 1 (or its digits)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"{name} must be an id: an int of at least 1 (as the service gives it), "
            f"got {check.short(value)}"
        )
    return value


@overload
def tags(value: object, name: str = "tags", *, required: Literal[True]) -> str: ...


@overload
def tags(value: object, name: str = "tags", *, required: bool = False) -> str | None: ...


def tags(value: object, name: str = "tags", *, required: bool = False) -> str | None:
    """Tags, given as a list of names or one comma-separated ``str``, as the service takes them
    (comma-separated); ``None`` when none are given, which ``required`` refuses."""
    joined = None if value is None else _joined(value, name)
    if joined is None and required:
        raise ConfigurationError(f"{name} must name at least one tag, got {check.short(value)}")
    return joined


def _joined(value: object, name: str) -> str | None:
    if isinstance(value, str):
        names = value.split(",")
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        names = list(value)
    else:
        raise ConfigurationError(
            f"{name} must be a list of str or a comma-separated str, got {check.short(value)}"
        )
    if not all(isinstance(tag, str) for tag in names):
        raise ConfigurationError(f"{name} must hold only str, got {check.short(value)}")
    cleaned = [tag.strip() for tag in names if tag.strip()]
    if any("," in tag for tag in names if not isinstance(value, str)):
        raise ConfigurationError(f"a tag cannot contain a comma, got {check.short(value)}")
    return ",".join(cleaned) or None


def list_query(
    *,
    search: object = None,
    order: object = None,
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    **others: Any,
) -> dict[str, Any]:
    """The checked query of a list, less the page: ``search`` text, ``orderBy``, a day range,
    and any other fields given (``None`` ones left out)."""
    query: dict[str, Any] = check.dates(date_from, date_to)
    if search is not None:
        if not isinstance(search, str):
            raise ConfigurationError(f"search must be a str, got {check.short(search)}")
        query["search"] = search
    check.ordered(query, order)
    query.update({name: value for name, value in others.items() if value is not None})
    return query

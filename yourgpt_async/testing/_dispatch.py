"""Which handler answers a request: each is marked with the declared endpoint and family it
serves (``@handles(SEND_MESSAGE)``), and :func:`handler_table` collects the marked methods.

The emulator serves exactly the endpoints the SDK declares (``_endpoints.registry``): a test
holds the table to the registry, so a declared endpoint without a handler cannot go unnoticed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import attrs
from aiohttp import web

from .._endpoints import Endpoint, Family
from ._params import Params

__all__ = ["Caller", "Handler", "ProjectCaller", "handler_table", "handles"]

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__emulator_handles__"


@attrs.frozen
class ProjectCaller:
    """A request made with a project's API key.

    Attributes:
        project: The key's project.
        api_key: The key itself (for the rate limit's bucket).
    """

    project: str
    api_key: str

    @property
    def family(self) -> Family:
        """The API the credential calls."""
        return Family.PROJECT

    @property
    def bucket(self) -> str:
        """The rate limit's bucket: one per credential."""
        return self.api_key


Caller = Any
"""Whoever made a request: a :class:`ProjectCaller`, or the Platform API's token holder."""

Handler = Callable[[Params, Caller], Awaitable[web.Response]]


def handles(endpoint: Endpoint[Any], family: Family = Family.PROJECT) -> Callable[[F], F]:
    """Mark a method as the handler of ``endpoint`` for credentials of ``family``."""

    def mark(method: F) -> F:
        marks: list[tuple[Family, str]] = getattr(method, _MARK, [])
        setattr(method, _MARK, [*marks, (family, endpoint.name)])
        return method

    return mark


def handler_table(*groups: object) -> Mapping[tuple[Family, str], Handler]:
    """The marked methods of ``groups`` (handler objects), by family and endpoint name.

    Raises:
        RuntimeError: Two methods handle the same endpoint for the same family.
    """
    table: dict[tuple[Family, str], Handler] = {}
    for group in groups:
        for name in dir(type(group)):
            for key in getattr(getattr(type(group), name), _MARK, ()):
                if key in table:
                    raise RuntimeError(f"two handlers for {key[1]} ({key[0]})")
                table[key] = getattr(group, name)
    return table

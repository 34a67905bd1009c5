"""What every method that calls an endpoint is built from, for both clients and every resource.

:func:`calls` marks a method as the caller of a declared endpoint; :func:`iterates` makes the
``iter_*`` twin of a method returning a :class:`~yourgpt_async.Page`; :class:`RawResponses` is
``with_raw_response`` for any client or resource, wrapping each marked method as it is looked
up, so no list of methods is kept by hand. :class:`Resource` is the base of the Platform API's
resources: a few methods bound to a client (and maybe to one project).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from . import _validate as check
from ._calls import Caller
from ._endpoints import Endpoint
from .types import Page, RawResponse

__all__ = ["RawResponses", "Resource", "calls", "endpoint_of", "iterates", "makes_view"]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

CL = TypeVar("CL", bound="_Client")

_ENDPOINT = "__yourgpt_endpoint__"
_VIEW = "__yourgpt_view__"


def calls(endpoint: Endpoint[Any]) -> Callable[[F], F]:
    """Mark a method as the one that calls ``endpoint`` (for ``with_raw_response`` and the
    checks that every declared endpoint has a method)."""

    def mark(method: F) -> F:
        setattr(method, _ENDPOINT, endpoint)
        return method

    return mark


def endpoint_of(method: object) -> Endpoint[Any] | None:
    """The endpoint a method calls, if :func:`calls` marked it."""
    found = getattr(method, _ENDPOINT, None)
    return found if isinstance(found, Endpoint) else None


def makes_view(method: F) -> F:
    """Mark a method that returns a resource bound to something (``yp.project(uid)``), so that
    ``with_raw_response`` can reach the methods of what it returns."""
    setattr(method, _VIEW, True)
    return method


def iterates(
    get: Callable[Concatenate[S, P], Awaitable[Page[T]]],
) -> Callable[Concatenate[S, P], AsyncIterator[T]]:
    """The ``iter_*`` twin of a method returning a page: every item of every page from there on.

    It takes the same arguments; ``limit`` is the page size (the most the endpoint allows,
    unless given), not a total.
    """

    async def iterate(self: S, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        options: dict[str, Any] = kwargs
        options.setdefault("limit", check.MAX_PAGE_SIZE)
        async for item in await get(self, *args, **options):
            yield item

    name = get.__name__.removeprefix("get_").removeprefix("list_").removeprefix("list")
    iterate.__name__ = iterate.__qualname__ = f"iter_{name}" if name else "iter"
    iterate.__doc__ = (
        f"Iterate over every item :meth:`{get.__name__}` lists, fetching page after page.\n\n"
        f"The same as ``async for item in await {get.__name__}(...)``, with the same "
        "arguments; ``limit`` is the page size (100 unless given), not a total."
    )
    return iterate


class _Client(Protocol):
    """What a resource needs of the client it is bound to."""

    _caller: Caller
    _max_concurrency: int

    def _fork(self: CL) -> CL: ...

    def _rebind(self: CL, client: CL) -> CL: ...


class Resource:
    """A group of a client's methods, maybe bound to one project (a view: no I/O to make).

    Subclasses call endpoints through ``self._client._caller`` and keep what they are bound to
    in attributes set by their ``__init__``.
    """

    def __init__(self, client: _Client) -> None:
        self._client = client

    def _rebind(self: S, client: _Client) -> S:
        """This resource, over ``client`` (a view of its own) instead."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._client = client  # type: ignore[attr-defined]
        return other

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


class RawResponses:
    """``with_raw_response``: each endpoint method of a client or resource, returning a
    :class:`~yourgpt_async.RawResponse` (the reply's status, headers and request id, and the
    result through ``parse()``).

    Methods are looked up and wrapped as they are asked for; a resource (``.projects``) or a
    view (``.project(uid)``) is reached through, so ``yp.with_raw_response.projects.list()``
    works as ``yp.projects.list()`` does.
    """

    def __init__(self, target: Any) -> None:
        self._target = target  # a client or a resource

    def __repr__(self) -> str:
        return f"<RawResponses of {self._target!r}>"

    def __dir__(self) -> list[str]:
        owner = type(self._target)
        return sorted(name for name in dir(owner) if endpoint_of(getattr(owner, name)) is not None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        target = self._target
        member = getattr(type(target), name, None)
        if callable(member) and endpoint_of(member) is not None:
            return self._wrap(member)
        if member is not None and getattr(member, _VIEW, False):
            view = getattr(target, name)

            @functools.wraps(view)
            def reach(*args: Any, **kwargs: Any) -> RawResponses:
                return RawResponses(view(*args, **kwargs))

            return reach
        value = getattr(target, name)
        if isinstance(value, Resource):
            return RawResponses(value)
        raise AttributeError(
            f"{name!r} is not a method that calls an endpoint, so it has no raw response"
        )

    def _wrap(self, method: Callable[..., Awaitable[Any]]) -> Any:
        target = self._target

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> RawResponse[Any]:
            client = target._client if isinstance(target, Resource) else target
            view = client._fork()
            view._caller = caller = client._caller.recording()
            bound = target._rebind(view)
            return caller.raw_response(await method(bound, *args, **kwargs))

        return call

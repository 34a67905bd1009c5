"""``client.with_raw_response``: an endpoint method that returns the reply's HTTP details too.

Each call runs on a view of the client made for that one call, whose caller records the call's
trace; the trace is then read back into a :class:`~yourgpt_async.RawResponse`. One view per
call keeps concurrent raw calls from seeing each other's replies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from ._calls import Caller
from ._models import RawResponse

__all__ = ["RawMethod"]

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound="_Client")


class _Client(Protocol):
    _caller: Caller

    def _fork(self: C) -> C: ...


class RawMethod(Generic[C, P, R]):
    """A client's endpoint method as ``with_raw_response`` offers it (a descriptor on the class
    whose instances hold the client as ``client``)."""

    def __init__(self, method: Callable[Concatenate[C, P], Awaitable[R]]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    def __get__(self, holder: Any, owner: Any = None) -> Callable[P, Awaitable[RawResponse[R]]]:
        method = self._method
        client: C = holder.client

        async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[R]:
            view = client._fork()
            view._caller = caller = client._caller.recording()
            return caller.raw_response(await method(view, *args, **kwargs))

        call.__name__ = call.__qualname__ = method.__name__
        call.__doc__ = method.__doc__
        return call

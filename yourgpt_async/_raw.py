"""``client.with_raw_response``: the endpoint methods, returning the reply's HTTP details too.

Each method runs on a view of the client made for that one call, whose caller records the call's
trace; the view is then read back into a :class:`~yourgpt_async.RawResponse`. One view per call
keeps concurrent raw calls from seeing each other's replies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Concatenate, Generic, ParamSpec, TypeVar

from ._client import AsyncClient
from ._models import RawResponse

__all__ = ["RawResponses"]

P = ParamSpec("P")
R = TypeVar("R")


class _RawMethod(Generic[P, R]):
    """An endpoint method of :class:`AsyncClient`, as ``with_raw_response`` offers it."""

    def __init__(self, method: Callable[Concatenate[AsyncClient, P], Awaitable[R]]) -> None:
        self._method = method
        self.__doc__ = f"``AsyncClient.{method.__name__}``, returning a ``RawResponse``."

    def __get__(
        self, instance: RawResponses, owner: type[RawResponses] | None = None
    ) -> Callable[P, Awaitable[RawResponse[R]]]:
        method = self._method
        client = instance.client

        async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[R]:
            view = client._fork()
            view._caller = caller = client._caller.recording()
            return caller.raw_response(await method(view, *args, **kwargs))

        call.__name__ = call.__qualname__ = method.__name__
        call.__doc__ = method.__doc__
        return call


class RawResponses:
    """``client.with_raw_response``: each endpoint method, returning a ``RawResponse``."""

    create_session = _RawMethod(AsyncClient.create_session)
    send_message = _RawMethod(AsyncClient.send_message)
    update_session = _RawMethod(AsyncClient.update_session)
    get_sessions = _RawMethod(AsyncClient.get_sessions)
    get_session_messages = _RawMethod(AsyncClient.get_session_messages)

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"<RawResponses of {self.client!r}>"

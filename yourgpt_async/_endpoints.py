"""Endpoints, each declared once, and the registry that lists every one of them.

A declaration (:class:`Endpoint`) holds what the SDK knows of an endpoint beyond its arguments:
its wire name, which credentials may call it (:class:`Family`), whether repeating it is safe
(:class:`Safety`), how its reply decodes (a :class:`~._replies.Reply`), and how a call left in
doubt is settled by reading the service back. Resource modules declare their endpoints with
:func:`declare` beside the methods that call them; everything else that lists endpoints — the
raw-response view, the emulator's handlers and fault names, the command line's ``api`` command,
the tests' parameters, the reference page — reads :func:`registry`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from ._replies import Reply
from .types._common import StrEnum

if TYPE_CHECKING:
    from ._config import RetryPolicy
    from ._replies import Listing
    from ._settle import Found
    from .types import Page

__all__ = [
    "Endpoint",
    "Family",
    "ReadBack",
    "Reconciler",
    "Safety",
    "declare",
    "registry",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Family(StrEnum):
    """Which API an endpoint belongs to, by the credential that calls it."""

    PROJECT = "project"
    """The Project Integration API: a project's API key, in the ``api-key`` header."""
    PLATFORM = "platform"
    """The Platform API: an organisation's token, in ``Authorization: Bearer``."""


class Safety(StrEnum):
    """What repeating a request of an endpoint does, which decides what is retried.

    ============================  ======  =============================  ==================
    failure                       READ    CREATE                          CALL
    ============================  ======  =============================  ==================
    never reached; 429 or 503     retry   retry                           retry
    lost after sending; 500/502   retry   ``DeliveryUnknownError``, or    ``DeliveryUnknown
                                          settled (``reconcile``), or     Error``, unless the
                                          resent (``retry_unsafe``)       policy names calls
    ============================  ======  =============================  ==================

    ``DELETE`` is retried as ``READ`` is, and a "Not found" after an attempt that may have
    landed counts as done.
    """

    READ = "read"
    """A read, or a write that leaves the same state however often it is repeated."""
    CREATE = "create"
    """Creates or sends something: a repeat makes a second one."""
    CALL = "call"
    """Places a phone call: a repeat rings a person twice, so it is never resent blindly."""
    DELETE = "delete"
    """Removes something: a repeat finds it gone."""


class ReadBack(Protocol):
    """What a :class:`Reconciler` reads the service with: calls made as the call in doubt was
    (its client, timeout and priority), under a policy of the reconciler's choosing."""

    @property
    def family(self) -> Family:
        """The API family of the credential the call was made with."""
        ...

    async def call(
        self, endpoint: Endpoint[T], payload: Mapping[str, Any], retry: RetryPolicy
    ) -> T:
        """One call of ``endpoint``."""
        ...

    async def page(
        self,
        endpoint: Endpoint[Listing[T]],
        query: Mapping[str, Any],
        *,
        page: int,
        limit: int,
        retry: RetryPolicy,
    ) -> Page[T]:
        """One page of a list endpoint."""
        ...


class Reconciler(Protocol[T_co]):
    """Settles a create whose first attempts were left in doubt, by reading the service back.

    Calling it settles a call being made; :meth:`earlier` settles one an earlier process made.

    Called with ``send`` (one call of the endpoint with retries, under the policy it is given;
    it raises :class:`~yourgpt_async.DeliveryUnknownError` when in doubt), a :class:`ReadBack`
    to read the service with, the call's payload and its policy. Returns what
    the create returned (or what the read-back found of it); raises ``DeliveryUnknownError``
    when the read-back cannot tell.
    """

    def __call__(
        self,
        send: Callable[[RetryPolicy], Awaitable[Any]],
        reader: ReadBack,
        payload: Mapping[str, Any],
        policy: RetryPolicy,
    ) -> Awaitable[T_co]: ...

    def earlier(
        self, reader: ReadBack, payload: Mapping[str, Any], policy: RetryPolicy, started: float
    ) -> Awaitable[Found[T_co]]:
        """Settle the same call made by an earlier process, begun at ``started`` (seconds since
        the epoch), that never saw it end (a bulk run resumed from its journal): what the
        read-back found of it, delivered, not delivered or undecidable, sending nothing."""
        ...


@attrs.frozen(eq=False)
class Endpoint(Generic[T]):
    """One endpoint of the API: everything about it but the arguments its method takes.

    Attributes:
        name: The wire name: the endpoint is ``POST <base_url>/<name>``.
        safety: What repeating a request does (see :class:`Safety`).
        reply: How a success reply becomes the result.
        families: The credentials that may call it (six paths serve both).
        summary: What it does, in a line, for the reference and the command line.
        permission: The role or permission the Platform API asks for, for error messages.
        hints: What to do about an error status, where this endpoint's differs from the
            general advice (a 403 from knowledge-base search means the plan lacks it).
        check: What the programmer should do about a call left in doubt, as a clause that
            stands alone (``"look for it among the session's messages
            (get_session_messages) before sending it again"``); the error adds the policies
            that would act by themselves.
        reconcile: Makes the per-client :class:`Reconciler` that settles a call left in doubt
            when the policy has ``reconcile=True``; ``None`` where the service cannot be read
            back for it.
    """

    name: str
    safety: Safety
    reply: Reply[T] = attrs.field(repr=False)
    families: frozenset[Family]
    summary: str
    permission: str | None = None
    reconcile: Callable[[], Reconciler[T]] | None = attrs.field(default=None, repr=False)
    hints: Mapping[int, str] = attrs.field(factory=dict, repr=False)
    check: str | None = attrs.field(default=None, repr=False)

    @property
    def idempotent(self) -> bool:
        """Whether repeating a request leaves the service as one request would."""
        return self.safety is Safety.READ or self.safety is Safety.DELETE


_DECLARED: dict[str, Endpoint[Any]] = {}


def declare(
    name: str,
    *,
    safety: Safety,
    reply: Reply[T],
    families: Family | frozenset[Family],
    summary: str,
    permission: str | None = None,
    reconcile: Callable[[], Reconciler[T]] | None = None,
    hints: Mapping[int, str] | None = None,
    check: str | None = None,
) -> Endpoint[T]:
    """Declare an endpoint and add it to the registry; each name may be declared once.

    Raises:
        RuntimeError: ``name`` was declared already.
    """
    if name in _DECLARED:
        raise RuntimeError(f"the endpoint {name!r} is declared twice")
    endpoint = Endpoint(
        name,
        safety,
        reply,
        families if isinstance(families, frozenset) else frozenset({families}),
        summary,
        permission,
        reconcile,
        MappingProxyType(dict(hints or {})),
        check,
    )
    _DECLARED[name] = endpoint
    return endpoint


def registry() -> Mapping[str, Endpoint[Any]]:
    """Every declared endpoint, by wire name, in the order declared."""
    import yourgpt_async  # noqa: F401  (importing the package declares every endpoint)

    return MappingProxyType(_DECLARED)

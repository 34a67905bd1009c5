"""Scripted failures for the emulator: what to do to the next request of each endpoint.

A :class:`FaultPlan` holds one queue of :class:`Fault` (or ``None``, "behave normally") per
endpoint; the emulator takes one entry from it for every request that endpoint receives.
"""

from __future__ import annotations

import enum
import json
import os
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from .._endpoints import registry

__all__ = ["ANY_ENDPOINT", "ENDPOINT_NAMES", "Fault", "FaultKind", "FaultPlan"]

ANY_ENDPOINT = "*"
"""The endpoint name of the queue consulted when an endpoint's own queue is empty."""

ENDPOINT_NAMES = tuple(registry())
"""The endpoints a fault plan may name (besides ``"*"``), spelt as in their URLs: every one the
SDK declares."""


def _check_endpoint(endpoint: object) -> str:
    """``endpoint`` if a plan may name it; a misspelt name would never fire, so it raises."""
    if endpoint == ANY_ENDPOINT or endpoint in ENDPOINT_NAMES:
        return str(endpoint)
    names = ", ".join(repr(name) for name in (*ENDPOINT_NAMES, ANY_ENDPOINT))
    raise ValueError(f"unknown endpoint {endpoint!r}: a fault plan takes one of {names}")


class FaultKind(str, enum.Enum):
    """What a :class:`Fault` does to the request it is applied to.

    Only ``LATENCY``, ``DROP_AFTER``, ``STATUS_AFTER``, ``TRUNCATED`` and ``SLOW_STORE`` let
    the emulator process the request (store the message, create the session, ...); every other
    kind answers or drops the request without processing it.
    """

    STATUS = "status"
    """Answer with an HTTP status and an RXERROR body (optionally with ``Retry-After``)."""
    LATENCY = "latency"
    """Wait, then process the request normally."""
    DROP_BEFORE = "drop_before"
    """Close the connection without processing the request or answering."""
    DROP_AFTER = "drop_after"
    """Process the request, then close the connection without answering."""
    STATUS_AFTER = "status_after"
    """Process the request, then answer with an HTTP status and an RXERROR body."""
    SLOW_STORE = "slow_store"
    """Close the connection at once without answering; process the request ``seconds`` later."""
    HTML = "html"
    """Answer with a proxy-style HTML error page."""
    EMPTY = "empty"
    """Answer with an empty body."""
    NOT_JSON = "not_json"
    """Answer with a plain-text body that is not JSON."""
    TRUNCATED = "truncated"
    """Process the request, then answer HTTP 200 with its JSON reply cut in the middle."""
    WRONG_SHAPE = "wrong_shape"
    """Answer HTTP 200 with valid JSON that is not an envelope (``[1, 2]``)."""
    RXERROR = "rxerror"
    """Answer HTTP 200 with an RXERROR envelope."""

    @property
    def processes_request(self) -> bool:
        """Whether the emulator processes a request that meets this kind of fault."""
        return self in _PROCESSING


_PROCESSING = frozenset(
    {
        FaultKind.LATENCY,
        FaultKind.DROP_AFTER,
        FaultKind.STATUS_AFTER,
        FaultKind.TRUNCATED,
        FaultKind.SLOW_STORE,
    }
)


def _check_http_status(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ValueError(f"{attribute.name} must be an HTTP status code (100-599), got {value!r}")


def _check_retry_after(
    _: object, attribute: attrs.Attribute[int | str | None], value: object
) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{attribute.name} must be whole seconds >= 0 or an HTTP date string, got {value!r}"
        )


def _check_seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{attribute.name} must be a number of seconds >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Fault:
    """One scripted failure, applied by the emulator to one request.

    Build faults with the class methods (``Fault.status(503)``, ``Fault.drop_after()``, ...) rather
    than the constructor.

    Attributes:
        kind: What the fault does; see :class:`FaultKind`.
        http_status: The HTTP status of the answer, for the kinds that answer.
        retry_after: The ``Retry-After`` header of a ``STATUS`` fault: whole seconds, or an
            HTTP date.
        message: The RXERROR message of a ``STATUS``, ``STATUS_AFTER`` or ``RXERROR`` fault
            (``None``: the status phrase).
        seconds: How long a ``LATENCY`` fault waits, or how long after dropping the
            connection a ``SLOW_STORE`` fault processes the request.
    """

    kind: FaultKind = attrs.field(converter=FaultKind)
    http_status: int = attrs.field(default=200, validator=_check_http_status)
    retry_after: int | str | None = attrs.field(default=None, validator=_check_retry_after)
    message: str | None = None
    seconds: float = attrs.field(default=0.0, validator=_check_seconds)

    @classmethod
    def status(
        cls, code: int, *, retry_after: int | str | None = None, message: str | None = None
    ) -> Fault:
        """Answer with HTTP ``code`` and an RXERROR body; the request is not processed.

        Args:
            code: The HTTP status, e.g. 429, 500, 502, 503, 504, 400, 401, 403 or 404.
            retry_after: Value of the ``Retry-After`` header: whole seconds or an HTTP date
                string (``"Wed, 21 Oct 2015 07:28:00 GMT"``); ``None`` sends no header.
            message: The RXERROR message; ``None`` uses the status phrase ("Service Unavailable").

        Returns:
            The fault.
        """
        return cls(
            kind=FaultKind.STATUS, http_status=code, retry_after=retry_after, message=message
        )

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Wait ``seconds``, then process the request normally.

        Args:
            seconds: The delay, before the request is processed.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.LATENCY, seconds=seconds)

    @classmethod
    def drop_before(cls) -> Fault:
        """Close the connection without processing the request and without answering.

        Nothing is stored. The client sees the connection closed before any reply
        (``aiohttp.ServerDisconnectedError``).

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.DROP_BEFORE)

    @classmethod
    def drop_after(cls) -> Fault:
        """Process the request fully, then close the connection without answering.

        A sent message is in the ledger, yet the client sees the connection closed before any
        reply: the "delivered, but the caller cannot know" case.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.DROP_AFTER)

    @classmethod
    def status_after(cls, code: int = 500, *, message: str | None = None) -> Fault:
        """Process the request fully, then answer with HTTP ``code`` and an RXERROR body.

        A sent message is in the ledger, yet the client sees a server error: a service that
        failed after storing it.

        Args:
            code: The HTTP status, e.g. 500, 502 or 504.
            message: The RXERROR message; ``None`` uses the status phrase.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.STATUS_AFTER, http_status=code, message=message)

    @classmethod
    def slow_store(cls, seconds: float) -> Fault:
        """Close the connection at once without answering, and process the request later.

        The request is processed ``seconds`` after the connection was dropped (in the
        background, unless the emulator stops first): a service that stores a request only
        after the client has given up on it.

        Args:
            seconds: The delay between dropping the connection and processing the request.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.SLOW_STORE, seconds=seconds)

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """Answer with a proxy-style HTML error page (``text/html``); not processed.

        Args:
            status: The HTTP status of the page.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.HTML, http_status=status)

    @classmethod
    def empty(cls, status: int = 200) -> Fault:
        """Answer with an empty body labelled ``application/json``; not processed.

        Args:
            status: The HTTP status of the answer.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.EMPTY, http_status=status)

    @classmethod
    def not_json(cls, status: int = 200) -> Fault:
        """Answer with a ``text/plain`` body that is not JSON; not processed.

        Args:
            status: The HTTP status of the answer.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.NOT_JSON, http_status=status)

    @classmethod
    def truncated(cls) -> Fault:
        """Process the request, then answer HTTP 200 with the JSON reply cut in the middle.

        The request IS processed (a sent message is in the ledger). The headers are valid and
        ``Content-Length`` matches the cut body, so the client reads the whole (short) body and
        then fails to decode it.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.TRUNCATED)

    @classmethod
    def wrong_shape(cls) -> Fault:
        """Answer HTTP 200 with valid JSON that is not an envelope (``[1, 2]``); not processed.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.WRONG_SHAPE)

    @classmethod
    def rxerror(cls, message: str = "Something went wrong") -> Fault:
        """Answer HTTP 200 with ``{"type": "RXERROR", "message": message}``; not processed.

        Args:
            message: The RXERROR message.

        Returns:
            The fault.
        """
        return cls(kind=FaultKind.RXERROR, message=message)


# Keys a fault may carry in FaultPlan.from_dict, per kind ("kind" itself is always allowed).
_DICT_KEYS: dict[FaultKind, frozenset[str]] = {
    FaultKind.STATUS: frozenset({"status", "retry_after", "message"}),
    FaultKind.LATENCY: frozenset({"seconds"}),
    FaultKind.STATUS_AFTER: frozenset({"status", "message"}),
    FaultKind.SLOW_STORE: frozenset({"seconds"}),
    FaultKind.HTML: frozenset({"status"}),
    FaultKind.EMPTY: frozenset({"status"}),
    FaultKind.NOT_JSON: frozenset({"status"}),
    FaultKind.RXERROR: frozenset({"message"}),
}
_DEFAULT_STATUS: dict[FaultKind, int] = {FaultKind.HTML: 502, FaultKind.STATUS_AFTER: 500}


def _fault_from_dict(entry: object, where: str) -> Fault | None:
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected an object or null, got {entry!r}")
    try:
        kind = FaultKind(entry.get("kind"))
    except ValueError:
        kinds = ", ".join(kind.value for kind in FaultKind)
        raise ValueError(f"{where}: 'kind' must be one of {kinds}") from None
    extra = set(entry) - {"kind"} - _DICT_KEYS.get(kind, frozenset())
    if extra:
        raise ValueError(f"{where}: unexpected keys for kind {kind.value!r}: {sorted(extra)}")
    if kind is FaultKind.STATUS and "status" not in entry:
        raise ValueError(f"{where}: a 'status' fault needs a 'status' code")
    message = entry.get("message")
    if message is not None and not isinstance(message, str):
        raise ValueError(f"{where}: 'message' must be a string")
    if kind is FaultKind.RXERROR and message is None:
        message = "Something went wrong"
    try:
        return Fault(
            kind=kind,
            http_status=entry.get("status", _DEFAULT_STATUS.get(kind, 200)),
            retry_after=entry.get("retry_after"),
            message=message,
            seconds=entry.get("seconds", 0.0),
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


class FaultPlan:
    """Per-endpoint queues of faults, consumed one entry per request.

    Each request to an endpoint takes the next entry of that endpoint's queue: a ``Fault`` to
    apply, or ``None`` to behave normally. Only when the endpoint's own queue is empty is the
    ``"*"`` queue (any endpoint) consulted; when both are empty the request is normal. The plan
    may be changed while the emulator runs.

    Example::

        plan = FaultPlan()
        plan.add("sendMessage", Fault.status(503), None, Fault.drop_after())
        plan.add("getSessions", Fault.status(429, retry_after=2), times=3)
        plan.add("*", Fault.latency(0.2))
    """

    __slots__ = ("_queues",)

    def __init__(self) -> None:
        """Create an empty plan: every request behaves normally."""
        self._queues: dict[str, deque[Fault | None]] = {}

    def __repr__(self) -> str:
        """Show the pending entries per endpoint."""
        queues = {endpoint: list(queue) for endpoint, queue in self._queues.items() if queue}
        return f"FaultPlan({queues!r})"

    def add(self, endpoint: str, *faults: Fault | None, times: int = 1) -> FaultPlan:
        """Append entries to an endpoint's queue.

        Args:
            endpoint: The endpoint name (``"sendMessage"``, ...), or ``"*"`` for any endpoint.
            *faults: The entries, in the order requests will take them; ``None`` is a normal
                request.
            times: How many times to append the whole sequence of ``faults``.

        Returns:
            The plan itself, so calls can be chained.

        Raises:
            ValueError: ``endpoint`` is not one of the API's endpoint names or ``"*"`` (listed in
                the message), no entries were given, or ``times`` is below 1.
        """
        _check_endpoint(endpoint)
        if not faults:
            raise ValueError("add() needs at least one fault (or None for a normal request)")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        self._queues.setdefault(endpoint, deque()).extend(faults * times)
        return self

    def next_fault(self, endpoint: str) -> Fault | None:
        """Take the entry for the next request to ``endpoint``.

        Args:
            endpoint: The endpoint the request is for.

        Returns:
            The fault to apply, or ``None`` for a normal request.
        """
        for name in (endpoint, ANY_ENDPOINT):
            queue = self._queues.get(name)
            if queue:
                return queue.popleft()
        return None

    def pending(self, endpoint: str | None = None) -> int:
        """Count the entries not yet taken.

        Args:
            endpoint: Count only this queue (``"*"`` included); ``None`` counts every queue.

        Returns:
            The number of entries, ``None`` entries included.
        """
        if endpoint is not None:
            return len(self._queues.get(endpoint, ()))
        return sum(len(queue) for queue in self._queues.values())

    def clear(self, endpoint: str | None = None) -> None:
        """Drop pending entries.

        Args:
            endpoint: Clear only this queue; ``None`` clears every queue.
        """
        if endpoint is None:
            self._queues.clear()
        else:
            self._queues.pop(endpoint, None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Iterable[Mapping[str, object] | None]]) -> FaultPlan:
        """Build a plan from plain data, such as a parsed JSON file.

        Each endpoint maps to a list of entries; an entry is ``null``/``None`` (a normal
        request) or an object with a ``kind`` (a :class:`FaultKind` value) and that kind's
        options: ``status`` (for ``status``, ``status_after``, ``html``, ``empty``,
        ``not_json``), ``retry_after`` (for ``status``), ``message`` (for ``status``,
        ``status_after`` and ``rxerror``), ``seconds`` (for ``latency`` and ``slow_store``).

        Example::

            FaultPlan.from_dict({
                "sendMessage": [{"kind": "status", "status": 500}, None, {"kind": "drop_after"}],
                "*": [{"kind": "latency", "seconds": 0.05}],
            })

        Args:
            data: Endpoint name (or ``"*"``) to list of entries.

        Returns:
            The plan.

        Raises:
            ValueError: The data does not describe a plan; the message says where.
        """
        if not isinstance(data, Mapping):
            raise ValueError("a fault plan must be an object of endpoint name to list of faults")
        plan = cls()
        for endpoint, entries in data.items():
            _check_endpoint(endpoint)
            if not isinstance(entries, (list, tuple)):
                raise ValueError(f"{endpoint!r}: expected a list of faults")
            faults = [
                _fault_from_dict(entry, f"{endpoint}[{index}]")
                for index, entry in enumerate(entries)
            ]
            if faults:
                plan.add(endpoint, *faults)
        return plan

    @classmethod
    def from_json_file(cls, path: str | os.PathLike[str]) -> FaultPlan:
        """Build a plan from a JSON file in the format of ``from_dict``.

        Args:
            path: The file to read (UTF-8).

        Returns:
            The plan.

        Raises:
            OSError: The file cannot be read.
            ValueError: The file is not JSON or does not describe a plan.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_dict(data)

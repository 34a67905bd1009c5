"""Small, frozen configuration objects: timeouts, the retry policy and the rate limit.

Each has defaults that suit a web service and a bulk script alike; pass your own to
:class:`~yourgpt_async.AsyncClient`, or a :class:`RetryPolicy` to a single call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

import attrs

from ._exceptions import ConfigurationError

__all__ = ["DEFAULT_MAX_CONCURRENCY", "RateLimit", "RetryPolicy", "Timeouts"]

DEFAULT_MAX_CONCURRENCY: Final = 64
"""Most requests of one client in flight at once, unless told otherwise: the default of
``AsyncClient(max_concurrency=)``, of ``send_many`` and of ``yourgpt-async bulk --concurrency``."""

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def _positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        expected = "a positive number or None" if allow_none else "a positive number"
        raise ConfigurationError(f"{name} must be {expected}, got {value!r}")


@attrs.frozen(kw_only=True)
class Timeouts:
    """How long one HTTP attempt may take, in seconds (``None`` means no limit).

    Attributes:
        total: The whole attempt, from connecting to the last byte of the reply. The AI's answer
            to a user message can take a while, hence the generous default.
        connect: Getting a connection (including waiting for a free one in the pool and TLS).
        read: Between two reads of the reply.
    """

    total: float | None = 60.0
    connect: float | None = 10.0
    read: float | None = 60.0

    def __attrs_post_init__(self) -> None:
        for name in ("total", "connect", "read"):
            _positive(f"Timeouts.{name}", getattr(self, name), allow_none=True)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to retry a failed request.

    What is retried is fixed by the kind of failure and the endpoint (see the retry table in
    the docs): a request that never reached the service, a 429 and a 503 are always retried;
    a timeout, a dropped connection or a 500/502/504 after a write was sent (``sendMessage``,
    ``createSession``, a create of the Platform API) raises
    :class:`~yourgpt_async.DeliveryUnknownError` instead, unless ``retry_unsafe`` is set; a
    delete is retried, its "Not found" after a lost answer counting as done.

    Attributes:
        attempts: Most HTTP requests per call, the first included (1 disables retrying).
        initial_backoff: Upper bound of the first backoff, in seconds; it doubles each retry.
        max_backoff: Upper bound of any single backoff, in seconds.
        deadline: Most seconds one call may spend, retries, waits and each attempt included.
            Waiting never eats the time a request needs: a create or a send (which a
            timeout would leave in doubt) is sent only while its full attempt timeout,
            ``Timeouts.total``, still fits before the deadline, so time spent waiting for a
            free slot of ``max_concurrency``, a turn under the rate limit or the end of the
            service's pause is bounded by the deadline less that timeout; a call that can no
            longer be sent in time fails with :class:`~yourgpt_async.NotSentError`, with
            nothing sent. When ``Timeouts.total`` does not fit in the deadline at all (or is
            ``None``), such a call waits at most ``max_wait`` (half the deadline unless set)
            and its request gets what is left. A read (or an idempotent write) may wait until
            the deadline and gets whatever is left, since its timeout leaves nothing in doubt.
            A ``Retry-After`` or a backoff that would end past that point is not waited for:
            the last error is raised.
        retry_unsafe: Also retry ambiguous failures of creates and sends (``sendMessage``,
            ``createSession``, ...), accepting that the service may then store one twice. It
            never covers an outbound phone call: see ``retry_outbound_calls``.
        retry_outbound_calls: Also retry ambiguous failures of ``make_outbound_call``,
            accepting that a person may be rung twice.
        reconcile: After an ambiguous failure of ``send_message``, read the session's newest
            messages back (of a create the service can list, such as a training text, a
            file, a tag, an invitation or a project: read its list back) and settle what
            happened: what is found there is returned as delivered, what is not found after
            ``settle`` seconds is sent again, and only when the
            read-back cannot tell is :class:`~yourgpt_async.DeliveryUnknownError` raised. The
            read-back requests go through the same rate limiter and count against
            ``deadline``; nothing extra happens when a send succeeds. Cannot be combined with
            ``retry_unsafe``.
        settle: Seconds the service is given, after an ambiguous failure, to finish storing a
            message before its absence counts as "not delivered" (``reconcile`` only). A
            service that stores a request later than this is the one case in which
            reconciling can still deliver a message twice.
        clock_skew: How far apart, in seconds, this machine's clock and the service's may be
            (``reconcile`` only). The read-back looks this far back before the call started,
            so a message stored under a skewed timestamp is not missed; a session holding more
            than 200 messages in that span cannot be settled.
        max_wait: Most seconds a call waits, before each attempt, for what holds it back on
            this side: a free slot of ``max_concurrency``, a turn under the rate limit, the
            pause the service asked for (a 429's ``Retry-After``, a quota spent until its
            reset). Past it the call fails at once with :class:`~yourgpt_async.NotSentError`
            (``retry_after`` says how long the pause lasts), or, for the call whose 429 asked
            for a longer pause, with that :class:`~yourgpt_async.RateLimitError`. ``None``
            (the default): as long as the deadline allows. A web process sets it low
            (``max_wait=1``) to answer "busy, try again" at once rather than hold its visitors
            behind a cool-down of up to ``RateLimit.max_cooldown``.
        jitter: Full jitter: each backoff is drawn uniformly from 0 to its bound.
        sleep: The coroutine used to wait (tests pass a fake one).
        clock: The monotonic clock the deadline is measured with (tests pass a fake one).
    """

    attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    deadline: float = 90.0
    retry_unsafe: bool = False
    retry_outbound_calls: bool = False
    reconcile: bool = False
    settle: float = 5.0
    clock_skew: float = 60.0
    max_wait: float | None = None
    jitter: bool = True
    sleep: Sleep = attrs.field(default=asyncio.sleep, repr=False)
    clock: Clock = attrs.field(default=time.monotonic, repr=False)

    def __attrs_post_init__(self) -> None:
        if (
            isinstance(self.attempts, bool)
            or not isinstance(self.attempts, int)
            or self.attempts < 1
        ):
            raise ConfigurationError(
                f"RetryPolicy.attempts must be an int of at least 1, got {self.attempts!r}"
            )
        _positive("RetryPolicy.initial_backoff", self.initial_backoff)
        _positive("RetryPolicy.max_backoff", self.max_backoff)
        _positive("RetryPolicy.deadline", self.deadline)
        if self.max_wait is not None and (
            isinstance(self.max_wait, bool)
            or not isinstance(self.max_wait, (int, float))
            or not 0 <= self.max_wait < float("inf")
        ):
            raise ConfigurationError(
                "RetryPolicy.max_wait must be a number of seconds >= 0, or None, got "
                f"{self.max_wait!r}"
            )
        self._check_reconcile()

    def _check_reconcile(self) -> None:
        for name in ("retry_unsafe", "retry_outbound_calls", "reconcile"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(
                    f"RetryPolicy.{name} must be True or False, got {getattr(self, name)!r}"
                )
        if self.reconcile and self.retry_unsafe:
            raise ConfigurationError(
                "RetryPolicy: reconcile and retry_unsafe cannot both be set: retry_unsafe "
                "resends without looking, reconcile looks before resending; choose one"
            )
        if (
            isinstance(self.settle, bool)
            or not isinstance(self.settle, (int, float))
            or not 0 <= self.settle < float("inf")
        ):
            raise ConfigurationError(
                f"RetryPolicy.settle must be a number of seconds >= 0, got {self.settle!r}"
            )
        _positive("RetryPolicy.clock_skew", self.clock_skew)

    @classmethod
    def no_retry(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(attempts=1)


@attrs.frozen(kw_only=True)
class RateLimit:
    """How fast one client sends, across all its concurrent calls.

    With ``per_second`` set, the client keeps to that rate (requests spaced evenly). Without it, the
    client starts slowly, speeds up while the service accepts, and on a 429 lowers its rate
    (multiplicative decrease) and creeps back up (additive increase), so that a long run settles
    just under a limit nobody told it; probing past the last known limit is rationed so that
    pauses cost at most about 3 % of the time. A 429 pauses every call of the client until the
    instant the service named in ``Retry-After``, for at most ``max_cooldown``; a call that
    cannot wait that long (its deadline, or ``RetryPolicy.max_wait``) fails at once with
    :class:`~yourgpt_async.NotSentError`, nothing sent.
    When replies carry rate-limit headers (``X-RateLimit-*``, ``RateLimit-*``), the client
    spreads the quota they announce over the time until it resets.

    Attributes:
        per_second: The rate to hold to, or ``None`` to find it adaptively. A told rate is
            kept 1 % under, as a margin for jitter and clock drift.
        burst: The service's burst allowance, if known. The client uses a quarter of it, keeping
            the rest as a margin for network jitter (all of it after a 429); the default, 1,
            sends at the rate from the start. An adaptive rate without one lets 2 ms worth of
            requests go at once.
        adaptive: Whether 429s lower the rate. Defaults to on when ``per_second`` is ``None``.
            With ``per_second`` set and ``adaptive=True``, ``per_second`` is the ceiling.
        initial_per_second: Where the adaptive rate starts before the first 429.
        min_per_second: The adaptive rate never drops below this.
        decrease: Factor applied to the rate on a 429 (0 < decrease < 1).
        increase: How much of the rate reached at the last 429 is added back per second.
        max_cooldown: The longest a 429's ``Retry-After`` holds every call of the client, in
            seconds, so that one absurd header cannot stall it for days (the call that got the
            429 still waits what it was told, within its deadline).
        enabled: ``False`` turns all pacing off (429s are still retried after their wait).
        clock: The monotonic clock (tests pass a fake one).
        sleep: The coroutine used to wait (tests pass a fake one).
    """

    per_second: float | None = None
    burst: int | None = None
    adaptive: bool | None = None
    initial_per_second: float = 20.0
    min_per_second: float = 0.5
    decrease: float = 0.9
    increase: float = 0.1
    max_cooldown: float = 30.0
    enabled: bool = True
    clock: Clock = attrs.field(default=time.monotonic, repr=False)
    sleep: Sleep = attrs.field(default=asyncio.sleep, repr=False)

    def __attrs_post_init__(self) -> None:
        _positive("RateLimit.per_second", self.per_second, allow_none=True)
        if self.burst is not None and (
            isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1
        ):
            raise ConfigurationError(
                f"RateLimit.burst must be an int of at least 1 or None, got {self.burst!r}"
            )
        _positive("RateLimit.initial_per_second", self.initial_per_second)
        _positive("RateLimit.min_per_second", self.min_per_second)
        _positive("RateLimit.increase", self.increase)
        _positive("RateLimit.max_cooldown", self.max_cooldown)
        if not 0 < self.decrease < 1:
            raise ConfigurationError(
                f"RateLimit.decrease must be between 0 and 1 (exclusive), got {self.decrease!r}"
            )

    @property
    def is_adaptive(self) -> bool:
        """Whether this limit adapts to 429s (``adaptive``, or its default)."""
        if not self.enabled:
            return False
        return self.per_second is None if self.adaptive is None else self.adaptive

    @classmethod
    def unlimited(cls) -> RateLimit:
        """No pacing at all: send as fast as the concurrency gate allows."""
        return cls(enabled=False)

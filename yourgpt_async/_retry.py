"""What to do about a failed request: one classification of failures and one tenacity policy.

Every failure arrives with its :class:`~yourgpt_async.FailureKind`, decided where it was seen
(``_wire`` for replies, ``_transport`` for the network); whether it is retried depends only on
that kind, on the endpoint's declared :class:`~._endpoints.Safety`, and on the policy:

===============================================  ===========  ====================  ==========
failure                                          READ/DELETE  CREATE                CALL
===============================================  ===========  ====================  ==========
could not connect                                retry        retry                 retry
429, 503                                         retry        retry                 retry
timeout or disconnect after sending, 500/502/504 retry        DeliveryUnknownError  DeliveryUn-
a 2xx reply that cannot be decoded               retry        (``retry_unsafe``:    knownError
                                                              retry)                (see below)
a 2xx reply over max_response_bytes              raise        DeliveryUnknownError  DeliveryUn-
                                                                                    knownError
another reply over max_response_bytes            raise        raise                 raise
400/401/403/404, other 4xx, RXERROR at 200       raise        raise                 raise
===============================================  ===========  ====================  ==========

A ``CALL`` (an outbound phone call) is resent after an ambiguous failure only under
``retry_outbound_calls``, never under ``retry_unsafe``: a repeat rings a person twice. A
``DELETE`` whose retry finds "Not found" after an attempt that may have landed is done.

The deadline bounds the whole call, and a :class:`Budget` tells each attempt how long it may
wait for a slot or a turn: a CREATE or CALL keeps its full attempt timeout before the deadline
(a request cut short would be left in doubt), so it is not sent once that no longer fits, and
no retry is started that could not be sent in time.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, TypeVar

import tenacity

from ._config import RetryPolicy
from ._endpoints import Endpoint, Safety
from ._exceptions import (
    APIError,
    DeliveryUnknownError,
    FailureKind,
    NotFoundError,
    ServerError,
    ServerErrorInDoubt,
    YourGPTError,
)

__all__ = ["Budget", "is_retryable", "run_with_retries"]

logger = logging.getLogger("yourgpt_async")

T = TypeVar("T")


_RETRIED_ALWAYS: Final = frozenset({FailureKind.CONNECT, FailureKind.THROTTLED})
_RETRIED_IF_SAFE: Final = frozenset(
    {FailureKind.AMBIGUOUS, FailureKind.SERVER, FailureKind.UNREADABLE}
)


def is_retryable(kind: FailureKind, *, safety: Safety, policy: RetryPolicy) -> bool:
    """Whether a failure of this kind may be retried on an endpoint of this safety."""
    if kind in _RETRIED_ALWAYS:
        return True
    if kind in _RETRIED_IF_SAFE:
        if safety is Safety.CREATE:
            return policy.retry_unsafe
        if safety is Safety.CALL:
            return policy.retry_outbound_calls
        return True
    return False


def _may_have_landed(error: YourGPTError) -> bool:
    """Whether the request that ended in ``error`` may have taken effect: an ambiguous failure,
    or a success status whose body could not be read (it may carry the write's result)."""
    kind = error.kind
    if kind in _RETRIED_IF_SAFE:
        return True
    return kind is FailureKind.TOO_LARGE and isinstance(error, APIError) and error.status < 300


def _advice(endpoint: Endpoint[Any]) -> str:
    """What to do about a call left in doubt, for the programmer who made it: the endpoint's
    own advice (its declaration's ``check``), then the policies that would act by themselves."""
    look = endpoint.check or "check whether it took effect before trying again"
    if endpoint.safety is Safety.CALL:
        return (
            f"{look}; RetryPolicy(retry_outbound_calls=True) would call again by itself, and "
            "may ring the person twice"
        )
    settle = (
        "RetryPolicy(reconcile=True) to have the client check for you, or "
        if endpoint.reconcile is not None
        else ""
    )
    return (
        f"{look}; pass {settle}RetryPolicy(retry_unsafe=True) to try again without checking, "
        "accepting a possible duplicate"
    )


def _ambiguous_to_delivery_unknown(error: YourGPTError, endpoint: Endpoint[Any]) -> YourGPTError:
    """Turn an ambiguous failure of a non-idempotent call into DeliveryUnknownError."""
    if isinstance(error, DeliveryUnknownError):
        return error
    if not _may_have_landed(error):  # an earlier attempt is the one in doubt (retry_unsafe)
        what = (
            "an earlier attempt got no usable answer (the last one ended in "
            f"{type(error).__name__})"
        )
    elif isinstance(error, APIError) and error.kind is FailureKind.UNREADABLE:
        what = (
            f"the service answered HTTP {error.status} with a reply that could not be read "
            "(it probably took effect)"
        )
    elif isinstance(error, APIError) and error.kind is FailureKind.TOO_LARGE:
        what = (
            f"the service answered HTTP {error.status} with a reply larger than "
            "max_response_bytes, which was not read (it probably took effect)"
        )
    elif isinstance(error, APIError):
        what = f"the service answered HTTP {error.status}"
    else:
        cause = error.__cause__
        what = f"no answer came back ({type(cause).__name__ if cause else 'connection lost'})"
    message = (
        f"{endpoint.name}: the request was sent but {what}, so it may or may not have taken "
        f"effect; {_advice(endpoint)}"
    )
    # A 5xx stays a ServerError too: `except ServerError` catches every 5xx, a send's included.
    unknown: DeliveryUnknownError = (
        ServerErrorInDoubt(message, cause=error)
        if isinstance(error, ServerError)
        else DeliveryUnknownError(message, endpoint=endpoint.name)
    )
    unknown.__cause__ = error
    return unknown


class Budget:
    """The time one call has, and how much of it an attempt may spend waiting before it is sent.

    A request of a CREATE or a CALL keeps its full attempt timeout (``Timeouts.total``)
    before the deadline: cut short, a request that arrives would still be reported in doubt.
    So the waits before it (the concurrency gate, the limiter's turn, the service's pause)
    must end ``reserve`` seconds before the deadline, and within ``max_wait`` of the attempt's
    start. When ``Timeouts.total`` does not fit in the deadline, the request gets what is left
    once the call has waited at most ``max_wait``, or half the deadline. A read keeps nothing
    back: its request gets whatever is left.

    Attributes:
        end: The deadline, on the policy's clock.
        reserve: Seconds before ``end`` by which a request must be sent.
        total: The attempt's ``Timeouts.total`` when that is what ``reserve`` keeps, else
            ``None`` (a read, or a timeout longer than the deadline).
        max_wait: The policy's ``max_wait``.
    """

    __slots__ = ("_clock", "_started", "end", "max_wait", "reserve", "total")

    def __init__(
        self,
        endpoint: Endpoint[Any],
        policy: RetryPolicy,
        total: float | None,
    ) -> None:
        self._clock = clock = policy.clock
        deadline = policy.deadline
        self.end = clock() + deadline  # the deadline counts the first attempt too
        self.max_wait = policy.max_wait
        self.total = None
        self.reserve = 0.0
        if not endpoint.idempotent:
            if total is not None and total < deadline:
                self.total = self.reserve = total
            else:  # the timeout does not fit: keep what waiting at most max_wait leaves
                waited = deadline / 2 if self.max_wait is None else self.max_wait
                self.reserve = max(0.0, deadline - waited)
        self._started = -math.inf

    def begin(self) -> None:
        """An attempt starts: ``max_wait`` counts from now."""
        if self.max_wait is not None:
            self._started = self._clock()

    def time_left(self) -> float:
        """Seconds left until the deadline."""
        return self.end - self._clock()

    def wait_left(self) -> float:
        """Seconds this attempt may still wait before its request must be sent."""
        send_by = self.end - self.reserve
        if self.max_wait is not None:
            send_by = min(send_by, self._started + self.max_wait)
        return send_by - self._clock()

    def can_start(self, after: float) -> bool:
        """Whether an attempt starting ``after`` seconds from now could still be sent."""
        return self._clock() + after <= self.end - self.reserve

    def limit(self) -> str:
        """What bounded the wait, for the error of a call given up before it was sent."""
        if self.max_wait is not None and self._started + self.max_wait < self.end - self.reserve:
            return f"within max_wait ({self.max_wait:g}s)"
        if self.total is not None:
            return (
                f"in time to leave the request its full timeout ({self.total:g}s, "
                "Timeouts.total) before the call's deadline"
            )
        if self.reserve:
            return (
                f"in time to leave the request {self.reserve:.3g}s before the call's deadline "
                "(Timeouts.total does not fit in it)"
            )
        return "before the call's deadline"


class _Stop(tenacity.stop.stop_base):
    """Stop after ``attempts``; when the next attempt could not be sent in time after its wait;
    or when the service's ``Retry-After`` asks for a longer wait than ``max_wait``."""

    def __init__(self, policy: RetryPolicy, budget: Budget) -> None:
        self.policy = policy
        self.budget = budget

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if retry_state.attempt_number >= self.policy.attempts:
            return True
        wait = retry_state.upcoming_sleep or 0.0
        max_wait = self.policy.max_wait
        if max_wait is not None and wait > max_wait and retry_state.outcome is not None:
            error = retry_state.outcome.exception()
            if isinstance(error, APIError) and error.retry_after is not None:
                return True  # a pause the caller chose not to wait for
        return not self.budget.can_start(wait)


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    bound = min(policy.max_backoff, policy.initial_backoff * 2 ** (attempt - 1))
    return random.uniform(0, bound) if policy.jitter else bound


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    def wait(retry_state: tenacity.RetryCallState) -> float:
        assert retry_state.outcome is not None
        error = retry_state.outcome.exception()
        if isinstance(error, APIError) and error.retry_after is not None:
            return error.retry_after  # the service's word wins over our backoff
        return _backoff(policy, retry_state.attempt_number)

    return wait


async def run_with_retries(
    attempt: Callable[[Budget], Awaitable[T]],
    *,
    endpoint: Endpoint[Any],
    policy: RetryPolicy,
    total: float | None = None,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds or the policy says stop, raising the last real error.

    The first attempt runs outside tenacity, so a call that succeeds first time pays nothing
    for the retry machinery. The error raised carries ``attempts``; an ambiguous failure of a
    non-idempotent endpoint that is not retried becomes :class:`DeliveryUnknownError`.
    ``policy.deadline`` bounds the whole call: each attempt is handed the call's
    :class:`Budget`, which says how long it may wait before its request must be sent, and no
    retry is started whose request could not be sent in time.

    Args:
        attempt: Makes one HTTP request within the budget it is given, and returns the
            decoded result, or raises.
        endpoint: The endpoint's declaration: its name (for errors and logs), what repeating
            it does, and how to check one left in doubt.
        policy: When and how long to retry.
        total: The attempt's ``Timeouts.total``: what a create or a call keeps of the
            deadline for its request.
        on_retry: Called with the failed attempt's number, the wait before the next one and
            the error, before each wait.
    """
    safety = endpoint.safety
    budget = Budget(endpoint, policy, total)
    budget.begin()
    try:
        return await attempt(budget)
    except YourGPTError as error:
        first = error
    if policy.attempts == 1 or not is_retryable(first.kind, safety=safety, policy=policy):
        raise _final(first, endpoint=endpoint, attempts=1, landed=_may_have_landed(first))

    again = _Again(attempt, budget, first, safety)
    retrying = _retrying(policy, budget, endpoint=endpoint.name, safety=safety, on_retry=on_retry)
    try:
        return await retrying(again)
    except YourGPTError as error:
        attempts = retrying.statistics.get("attempt_number", 1)
        final = _final(error, endpoint=endpoint, attempts=attempts, landed=again.landed)
        raise final from final.__cause__


class _Again(Generic[T]):
    """The attempts tenacity makes: the first failure handed back without a second request
    (so its bookkeeping of attempt numbers and waits covers the whole call), then new ones.

    A delete whose retry finds "Not found" after an attempt that may have landed is done.
    """

    def __init__(
        self,
        attempt: Callable[[Budget], Awaitable[T]],
        budget: Budget,
        first: YourGPTError,
        safety: Safety,
    ) -> None:
        self._attempt = attempt
        self._budget = budget
        self._first: YourGPTError | None = first
        self._gone_is_done = safety is Safety.DELETE
        self.landed = _may_have_landed(first)  # an attempt may have taken effect

    async def __call__(self) -> T:
        first, self._first = self._first, None
        if first is not None:
            raise first
        self._budget.begin()
        try:
            return await self._attempt(self._budget)
        except NotFoundError:
            if self.landed and self._gone_is_done:
                return None  # type: ignore[return-value]  # a delete's result is None
            raise
        except YourGPTError as error:
            self.landed = self.landed or _may_have_landed(error)
            raise


def _retrying(
    policy: RetryPolicy,
    budget: Budget,
    *,
    endpoint: str,
    safety: Safety,
    on_retry: Callable[[int, float, BaseException], None] | None,
) -> tenacity.AsyncRetrying:
    """The tenacity loop for one call: the policy's stop, wait and sleep, retrying by kind."""

    def retry_if(retry_state: tenacity.RetryCallState) -> bool:
        assert retry_state.outcome is not None
        error = retry_state.outcome.exception()
        if not isinstance(error, YourGPTError):
            return False
        return is_retryable(error.kind, safety=safety, policy=policy)

    def log_retry(retry_state: tenacity.RetryCallState) -> None:
        assert retry_state.outcome is not None
        error = retry_state.outcome.exception()
        reason = error.kind.value if isinstance(error, YourGPTError) else "unknown"
        detail = f"HTTP {error.status}" if isinstance(error, APIError) else type(error).__name__
        logger.info(
            "retrying %s: attempt %d failed (%s, %s); waiting %.3fs",
            endpoint,
            retry_state.attempt_number,
            reason,
            detail,
            retry_state.upcoming_sleep,
        )
        if on_retry is not None and error is not None:
            on_retry(retry_state.attempt_number, retry_state.upcoming_sleep or 0.0, error)

    return tenacity.AsyncRetrying(
        stop=_Stop(policy, budget),
        wait=_wait(policy),
        retry=retry_if,
        sleep=policy.sleep,
        before_sleep=log_retry,
        reraise=True,
    )


def _final(
    error: YourGPTError, *, endpoint: Endpoint[Any], attempts: int, landed: bool
) -> YourGPTError:
    """The error a call raises: a write of which an attempt may have taken effect is in doubt
    (whatever the last attempt ended in); ``attempts`` counts the requests sent."""
    if error.kind is FailureKind.NOT_SENT:
        attempts -= 1  # the last attempt sent nothing
    if not endpoint.idempotent and landed:
        error = _ambiguous_to_delivery_unknown(error, endpoint)
    error.attempts = attempts
    return error

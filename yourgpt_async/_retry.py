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
a reply over max_response_bytes                  raise        raise                 raise
400/401/403/404, other 4xx, RXERROR at 200       raise        raise                 raise
===============================================  ===========  ====================  ==========

A ``CALL`` (an outbound phone call) is resent after an ambiguous failure only under
``retry_outbound_calls``, never under ``retry_unsafe``: a repeat rings a person twice. A
``DELETE`` whose retry finds "Not found" after an attempt that may have landed is done.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, TypeVar

import tenacity

from ._config import RetryPolicy
from ._endpoints import Endpoint, Safety
from ._exceptions import APIError, DeliveryUnknownError, FailureKind, NotFoundError, YourGPTError

__all__ = ["is_retryable", "run_with_retries"]

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


def _may_have_landed(kind: FailureKind) -> bool:
    return kind in _RETRIED_IF_SAFE


_DEFAULT_ADVICE: Final = (
    "it may or may not have taken effect; check before trying again, or pass "
    "RetryPolicy(retry_unsafe=True) to try again without checking (a duplicate is then possible)"
)


def _advice(endpoint: Endpoint[Any]) -> str:
    """What to do about a call left in doubt, for the programmer who made it: the
    declaration's own advice, which knows how that endpoint's effect can be checked."""
    return endpoint.check or _DEFAULT_ADVICE


def _ambiguous_to_delivery_unknown(error: YourGPTError, endpoint: Endpoint[Any]) -> YourGPTError:
    """Turn an ambiguous failure of a non-idempotent call into DeliveryUnknownError."""
    if isinstance(error, DeliveryUnknownError):
        return error
    if isinstance(error, APIError) and error.kind is FailureKind.UNREADABLE:
        what = (
            f"the service answered HTTP {error.status} with a reply that could not be read "
            "(the message was probably delivered)"
        )
    elif isinstance(error, APIError):
        what = f"the service answered HTTP {error.status}"
    else:
        cause = error.__cause__
        what = f"no answer came back ({type(cause).__name__ if cause else 'connection lost'})"
    unknown = DeliveryUnknownError(
        f"{endpoint.name}: the request was sent but {what}, so {_advice(endpoint)}",
        endpoint=endpoint.name,
    )
    unknown.__cause__ = error
    return unknown


class _Stop(tenacity.stop.stop_base):
    """Stop after ``attempts``, or when the next wait would end past the deadline."""

    def __init__(self, policy: RetryPolicy, deadline: float) -> None:
        self.policy = policy
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if retry_state.attempt_number >= self.policy.attempts:
            return True
        return self.policy.clock() + (retry_state.upcoming_sleep or 0.0) > self.deadline


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
    attempt: Callable[[Callable[[], float]], Awaitable[T]],
    *,
    endpoint: Endpoint[Any],
    policy: RetryPolicy,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds or the policy says stop, raising the last real error.

    The first attempt runs outside tenacity, so a call that succeeds first time pays nothing
    for the retry machinery. The error raised carries ``attempts``; an ambiguous failure of a
    non-idempotent endpoint that is not retried becomes :class:`DeliveryUnknownError`.
    ``policy.deadline`` bounds the whole call: each attempt is handed a function that says
    how many seconds are left, and no wait between attempts ends past the deadline.

    Args:
        attempt: Makes one HTTP request within the seconds its argument says are left, and
            returns the decoded result, or raises.
        endpoint: The endpoint's declaration: its name (for errors and logs), what repeating
            it does, and how to check one left in doubt.
        policy: When and how long to retry.
        on_retry: Called with the failed attempt's number, the wait before the next one and
            the error, before each wait.
    """
    safety = endpoint.safety
    clock = policy.clock
    deadline = clock() + policy.deadline  # the deadline counts the first attempt too

    def time_left() -> float:
        return deadline - clock()

    try:
        return await attempt(time_left)
    except YourGPTError as error:
        first = error
    if policy.attempts == 1 or not is_retryable(first.kind, safety=safety, policy=policy):
        raise _final(first, endpoint=endpoint, safety=safety, attempts=1)

    again = _Again(attempt, time_left, first, safety)
    retrying = _retrying(policy, deadline, endpoint=endpoint.name, safety=safety, on_retry=on_retry)
    try:
        return await retrying(again)
    except YourGPTError as error:
        attempts = retrying.statistics.get("attempt_number", 1)
        final = _final(error, endpoint=endpoint, safety=safety, attempts=attempts)
        raise final from final.__cause__


class _Again(Generic[T]):
    """The attempts tenacity makes: the first failure handed back without a second request
    (so its bookkeeping of attempt numbers and waits covers the whole call), then new ones.

    A delete whose retry finds "Not found" after an attempt that may have landed is done.
    """

    def __init__(
        self,
        attempt: Callable[[Callable[[], float]], Awaitable[T]],
        time_left: Callable[[], float],
        first: YourGPTError,
        safety: Safety,
    ) -> None:
        self._attempt = attempt
        self._time_left = time_left
        self._first: YourGPTError | None = first
        self._gone_is_done = safety is Safety.DELETE
        self._landed = _may_have_landed(first.kind)  # an attempt may have taken effect

    async def __call__(self) -> T:
        first, self._first = self._first, None
        if first is not None:
            raise first
        try:
            return await self._attempt(self._time_left)
        except NotFoundError:
            if self._landed and self._gone_is_done:
                return None  # type: ignore[return-value]  # a delete's result is None
            raise
        except YourGPTError as error:
            self._landed = self._landed or _may_have_landed(error.kind)
            raise


def _retrying(
    policy: RetryPolicy,
    deadline: float,
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
        stop=_Stop(policy, deadline),
        wait=_wait(policy),
        retry=retry_if,
        sleep=policy.sleep,
        before_sleep=log_retry,
        reraise=True,
    )


def _final(
    error: YourGPTError, *, endpoint: Endpoint[Any], safety: Safety, attempts: int
) -> YourGPTError:
    if safety in (Safety.CREATE, Safety.CALL) and error.kind in _RETRIED_IF_SAFE:
        error = _ambiguous_to_delivery_unknown(error, endpoint)
    error.attempts = attempts
    return error

"""Where a service's limit lies, from the successes it gave before a 429: pure arithmetic.

The adaptive model keeps the tickets (send times) of recent successes in order. When a 429
whose pause is costly ends slow start, or follows a pause too soon, these functions read that
log to say what rate the service takes. They model the service as a token bucket of rate ``R``
and burst ``B``: a bucket that was full at time ``s`` and is empty at ``t`` accepted
``B + R * (t - s)`` requests in between. A window that hands out a quota per period looks, to
a client that spends it quickly, like a bucket whose burst is the whole quota.

No I/O and no clock: the model passes the log and the times, and the tests call these
directly. The fleet's Lua has a line-for-line transcription of each (``lua/estimate.lua``).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence

from ._rules import ASSUMED_BURST, CHUNK_SHARE, FIT_SHARE, MIN_SPAN, WINDOW_SHARE

__all__ = [
    "accepted_rate",
    "bucket_fit",
    "count_between",
    "ramp_peak",
    "refill_rate",
    "resumed_rate",
]


def count_between(log: Sequence[float], start: float, end: float) -> int:
    """How many successes in ``log`` were sent from ``start`` to ``end``, both included."""
    return bisect.bisect_right(log, end) - bisect.bisect_left(log, start)


def ramp_peak(log: Sequence[float], since: float, end: float) -> float:
    """The rate a service accepted while slow start ramped up, from ``since`` until the 429
    sent at ``end``; ``inf`` if nothing was accepted in that span.

    The bucket began to drain when the ramp crossed its rate, at a time the client cannot
    see: every later span ``[s, end]`` accepted at most ``B + R * (end - s)``, and the one
    from that moment exactly that, while earlier spans lost the refill of a full bucket.
    With ``B`` taken as :data:`ASSUMED_BURST` seconds of ``R``, the largest
    ``count / (end - s + ASSUMED_BURST)`` is the estimate; or the rate of the whole span,
    if higher (a smaller burst than assumed).
    """
    first = bisect.bisect_left(log, since)
    last = bisect.bisect_right(log, end)
    # A burst under the assumed one makes those spans read low: the rate the whole ramp
    # was accepted at (if long enough to say) is then the better figure.
    span = end - since
    best = (last - first) / span if span >= MIN_SPAN else 0.0
    for index in range(first, last):
        best = max(best, (last - index) / (end - log[index] + ASSUMED_BURST))
    return best if last > first else math.inf


def bucket_fit(
    log: Sequence[float], ramp: tuple[float, float], resumed: float, end: float
) -> float:
    """The bucket rate that explains both the 429 that ended slow start and one that came
    soon after the pause; ``inf`` if no bucket does.

    ``ramp`` is the span of slow start, ``(since, sent)`` with ``sent`` the ticket of its
    429; ``resumed`` is when the pause ended and ``end`` the ticket of the second 429. The
    pause refilled the bucket, which then gave ``n2`` in ``d2``; from some moment ``s`` of
    the ramp it gave ``n(s)`` in ``d(s)``. Both drained the same full bucket, so
    ``n2 - n(s) = R * (d2 - d(s))`` at that moment, and the ratio is higher at every other:
    the smallest ratio is ``R``, with no guess at the burst. A ratio counts only if the burst
    it implies (``n - R * d``) is more than one request both times, and if it is under
    :data:`FIT_SHARE` of the rate the refill was sent at (the bucket drained then).
    """
    since, sent = ramp
    first = bisect.bisect_left(log, since)
    last = bisect.bisect_right(log, sent)
    refill = count_between(log, resumed, end)
    span = end - resumed
    if span <= 0 or refill < 2:
        return math.inf
    highest = FIT_SHARE * refill / span
    best = math.inf
    for index in range(first, last):
        drained, count = sent - log[index], last - index
        if drained < span:
            rate = (refill - count) / (span - drained)
            if 0 < rate < highest and count - rate * drained > 1 and refill - rate * span > 1:
                best = min(best, rate)
    return best


def refill_rate(
    log: Sequence[float],
    *,
    ramp: tuple[float, float] | None,
    resumed: float,
    end: float,
    pause: float,
    since: float,
    now: float,
) -> float:
    """The limit, from what a service accepted between the end of a ``pause`` (at
    ``resumed``) and the 429 sent at ``end``, soon after.

    A window gives its whole quota after the pause, so the rate is the chunk per pause; a
    bucket that refills faster than the pause gives less, and then the rate it accepted
    since demand began at ``since``, pauses included, is closer. If slow start ended on a
    costly 429 (its span is ``ramp``), a bucket fitted to both 429s (:func:`bucket_fit`)
    may explain them better.
    """
    refill = len(log) - bisect.bisect_left(log, resumed)
    chunk = refill / pause
    overall = (len(log) - bisect.bisect_left(log, since)) / max(now - since, pause)
    windowed = chunk if chunk >= CHUNK_SHARE * overall else overall
    if ramp is None:
        return windowed
    fitted = bucket_fit(log, ramp, resumed, end)
    if fitted == math.inf:
        return windowed
    # A window gives its quota in every window, so slow start's last ``pause`` seconds got at
    # least the refill too; if not, only the bucket explains both 429s. If both do, the
    # higher rate: too high costs one more pause, too low slows the whole run.
    ramp_got = count_between(log, max(ramp[0], ramp[1] - pause), ramp[1])
    return max(fitted, windowed) if ramp_got >= WINDOW_SHARE * refill else fitted


def accepted_rate(log: Sequence[float], since: float, paused: float) -> float:
    """The rate a service accepted from ``since`` to the latest success in ``log``, ``paused``
    seconds left out; ``inf`` if the span is too short to say.

    A full log (a deque at its length) may no longer reach back to ``since``: it then counts
    from its oldest success.
    """
    if not log:
        return math.inf
    first = bisect.bisect_left(log, since)
    full = isinstance(log, deque) and len(log) == log.maxlen
    start = max(since, log[0]) if full and not first else since
    elapsed = log[-1] - start - paused
    count = len(log) - first
    return count / elapsed if elapsed >= MIN_SPAN and count else math.inf


def resumed_rate(log: Sequence[float], resumed: float, end: float) -> float:
    """The limit, from what a service accepted between the end of a pause (``resumed``) and
    the 429 sent at ``end``, more than one pause later; ``inf`` if the span is too short.

    The pause refilled a bucket, which then gave its burst and its rate over the span:
    ``n = B + R * d``. With the burst taken as :data:`ASSUMED_BURST` seconds of the rate the
    span was sent at, ``R = (n - B) / d``: the longer the span, the less the guess matters.
    """
    span = end - resumed
    count = count_between(log, resumed, end)
    if span < MIN_SPAN or count < 2:
        return math.inf
    return count * (1 - ASSUMED_BURST / span) / span

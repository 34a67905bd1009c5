"""The limit estimates of ``pacing._estimate``: pure arithmetic on success logs, no I/O.

The logs come from the emulator's own servers (a token bucket, fixed windows), asked directly
with no I/O and fed the sending pattern the adaptive limiter produces: slow start's ramp,
doubling every 0.05 s until the first 429, then a pause, then a constant rate until the next.
"""

from __future__ import annotations

import math
from collections import deque

import pytest

from yourgpt_async.pacing._estimate import (
    accepted_rate,
    bucket_fit,
    count_between,
    ramp_peak,
    refill_rate,
)
from yourgpt_async.pacing._rules import ASSUMED_BURST
from yourgpt_async.testing import EmulatorRateLimit
from yourgpt_async.testing._ratelimit import FixedWindow, Limiter, TokenBucket


def Bucket(rate: float, burst: float) -> TokenBucket:
    """The emulator's token bucket of ``rate`` per second holding ``burst``, full at first."""
    return TokenBucket(EmulatorRateLimit(rate, round(burst)))


def Window(quota: int, phase: float = 0.0) -> FixedWindow:
    """The emulator's fixed one-second windows of ``quota``, their edges ``phase`` seconds
    before the clock's whole seconds."""
    return FixedWindow(EmulatorRateLimit(quota, kind="fixed_window"), offset=phase)


def ramp(server: Limiter, start: float = 20.0) -> tuple[list[float], float]:
    """Slow start against ``server``: the rate doubles every 0.05 s from ``start`` per
    second. Returns the accepted send times and the time of the first refusal."""
    accepted: list[float] = []
    now, rate = 0.0, start
    while server.take("key", now).allowed:
        accepted.append(now)
        now += 1 / rate
        rate = start * 2 ** (now / 0.05)
    return accepted, now


def steady(server: Limiter, start: float, rate: float) -> tuple[list[float], float]:
    """Send at ``rate`` from ``start`` until refused: the accepted times and the refusal's."""
    accepted: list[float] = []
    now = start
    while server.take("key", now).allowed:
        accepted.append(now)
        now += 1 / rate
    return accepted, now


# -- ramp_peak: one 429 -----------------------------------------------------------------------


@pytest.mark.parametrize("rate", [40.0, 200.0, 1000.0])
def test_the_ramp_peak_finds_a_bucket_whose_burst_is_the_assumed_one(rate: float) -> None:
    """A bucket holding a tenth of a second of its rate: the estimate is its rate, never
    above it (the refusal's partial token is not counted), at most a request's worth under."""
    log, refused = ramp(Bucket(rate, rate * ASSUMED_BURST))
    estimate = ramp_peak(log, 0.0, refused)
    assert rate * 0.88 <= estimate <= rate * 1.005


def test_a_bigger_burst_reads_high_and_a_smaller_one_low() -> None:
    """One 429 cannot tell a bucket's rate from its burst: the assumption errs each way."""
    big_log, big_end = ramp(Bucket(200.0, 50))
    small_log, small_end = ramp(Bucket(200.0, 5))
    assert ramp_peak(big_log, 0.0, big_end) > 240.0
    assert ramp_peak(small_log, 0.0, small_end) < 180.0


def test_the_rate_of_a_long_enough_ramp_is_a_floor() -> None:
    """Spans read low when the burst is smaller than assumed; the whole ramp's rate (0.4 s
    at 100/s) is then the estimate. A ramp shorter than a quarter second has only its spans."""
    log = [0.01 * n for n in range(40)]
    assert ramp_peak(log, 0.0, 0.4) == pytest.approx(40 / 0.4)
    assert ramp_peak(log[:20], 0.0, 0.2) == pytest.approx(20 / (0.2 + ASSUMED_BURST))


def test_the_ramp_peak_counts_only_the_span_asked_for() -> None:
    log = [0.1 * n for n in range(11)]  # 0.0 .. 1.0
    assert ramp_peak(log, 0.5, 1.0) == pytest.approx(6 / 0.5)  # the whole span's rate wins
    assert ramp_peak(log, 2.0, 3.0) == math.inf  # nothing accepted in it
    burst_only = [1.0] * 5
    assert ramp_peak(burst_only, 1.0, 1.0) == pytest.approx(5 / ASSUMED_BURST)


# -- bucket_fit: a second 429 soon after the pause --------------------------------------------


@pytest.mark.parametrize(("rate", "burst"), [(200.0, 20), (200.0, 50), (200.0, 100), (40.0, 20)])
def test_two_429s_pin_a_bucket_without_a_guess_at_its_burst(rate: float, burst: int) -> None:
    """The ramp, a 1 s pause, then sending at the ramp's (over-)estimate: the fit gives the
    bucket's rate within 5 %, whatever its burst."""
    bucket = Bucket(rate, burst)
    first, refused = ramp(bucket)
    resumed = refused + 1.0
    second, refused_again = steady(bucket, resumed, 1.6 * rate)
    log = first + second
    fitted = bucket_fit(log, (0.0, refused), resumed, refused_again)
    assert fitted == pytest.approx(rate, rel=0.05)


@pytest.mark.parametrize(
    ("phase", "resend"), [(0.0, 320.0), (0.0, 600.0), (0.1, 600.0), (0.3, 600.0), (0.9, 320.0)]
)
def test_a_window_is_paced_at_its_quota_per_pause(phase: float, resend: float) -> None:
    """Fixed windows of 200: the ramp spends a quota, a whole-second ``Retry-After`` pauses
    the client, and sending again at ``resend``/s spends the next quota soon after. Whatever
    bucket fits those two 429s, the rate is the quota per pause."""
    window = Window(200, phase=phase)
    first, refused = ramp(window)
    resumed = refused + 1.0
    second, refused_again = steady(window, resumed, resend)
    assert refused_again - resumed < 1.0  # soon after the pause: the case the rule is for
    estimate = refill_rate(
        first + second,
        ramp=(0.0, refused),
        resumed=resumed,
        end=refused_again,
        pause=1.0,
        since=0.0,
        now=refused_again,
    )
    assert estimate == pytest.approx(200.0, rel=0.03)


def test_a_fit_needs_a_burst_of_more_than_one_request_both_times() -> None:
    """A steady ramp at 100/s, then 100 accepted in 0.2 s: no bucket sends the first 429 at
    that pace and takes the second chunk, so nothing fits."""
    log = [0.01 * n for n in range(1, 51)] + [1.5 + 0.002 * n for n in range(1, 101)]
    assert bucket_fit(log, (0.0, 0.5), 1.5, 1.7) == math.inf


def test_a_small_chunk_after_the_pause_falls_back_to_the_overall_rate() -> None:
    """No ramp to fit and a chunk under 80 % of the rate accepted since demand began."""
    log = [0.01 * n for n in range(1, 101)] + [2.0 + 0.005 * n for n in range(1, 21)]
    estimate = refill_rate(log, ramp=None, resumed=2.0, end=2.1, pause=1.0, since=0.0, now=2.1)
    assert estimate == pytest.approx(120 / 2.1)


# -- accepted_rate, count_between -------------------------------------------------------------


def test_the_accepted_rate_leaves_pauses_out_and_needs_a_quarter_second() -> None:
    log = [0.01 * n for n in range(1, 101)]  # 100 in 1 s
    assert accepted_rate(log, 0.0, 0.5) == pytest.approx(100 / 0.5)
    assert accepted_rate(log, 0.9, 0.0) == math.inf  # 0.1 s says nothing
    assert accepted_rate([], 0.0, 0.0) == math.inf


def test_a_full_log_counts_from_its_oldest_success() -> None:
    log = deque((0.5 + 0.01 * n for n in range(100)), maxlen=100)
    assert accepted_rate(log, 0.0, 0.0) == pytest.approx(100 / (log[-1] - 0.5))


def test_count_between_includes_both_ends() -> None:
    assert count_between([1.0, 2.0, 2.0, 3.0], 2.0, 3.0) == 3
    assert count_between([1.0], 2.0, 3.0) == 0

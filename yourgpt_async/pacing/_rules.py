"""Every tuning constant of pacing, in one place, by name.

The in-process limiter, the adaptive model and the estimates read them from here; the fleet's
Lua scripts have them generated from here under the same names (``_lua``), so the two
implementations cannot drift apart on a number. Times are in seconds, rates in requests per
second.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "ARRIVAL_TOLERANCE",
    "ASSUMED_BURST",
    "BULK_SHARE_EVERY",
    "BURST_RESERVE",
    "CHUNK_SHARE",
    "COSTLY_PAUSE",
    "DEMAND_WINDOW",
    "FIT_SHARE",
    "LOG_SIZE",
    "LOOKAHEAD",
    "MARGIN",
    "MIN_SPAN",
    "PAUSE_BUDGET",
    "PLATEAU",
    "PROBE_SLOWDOWN",
    "SENT_HORIZON",
    "SENT_KEPT",
    "SLOW_START_GAIN",
    "SLOW_START_STEP",
    "TOLD_AFTER_429",
    "TOLD_MARGIN",
    "WINDOW_SHARE",
]

# -- the schedule ------------------------------------------------------------------------------

TOLD_MARGIN: Final = 0.99
"""A told rate is kept this much under, for jitter and clock drift ..."""
TOLD_AFTER_429: Final = 0.97
"""... and this much once a 429 showed that was not enough (the told burst is dropped too)."""
BURST_RESERVE: Final = 0.75
"""Of a told burst, this share stays unused, so that jitter finds tokens left."""
ARRIVAL_TOLERANCE: Final = 0.002
"""Seconds of a learnt rate that may go at once: callers arriving together (one loop turn
apart) are not queued one by one."""
DEMAND_WINDOW: Final = 1.0
"""A caller held back by the rate this recently still counts as demand for more rate."""
BULK_SHARE_EVERY: Final = 10
"""While interactive and bulk calls both wait, every this many turns one goes to bulk: bulk
keeps a tenth of the rate, however busy the interactive side."""
LOOKAHEAD: Final = 0.05
"""A fleet learning its rate reserves no turn further ahead than this (or two turns), so that
slots are not fixed at a rate already left behind."""

# -- the estimates of a service's limit --------------------------------------------------------

ASSUMED_BURST: Final = 0.1
"""Seconds of its rate a service is taken to let through at once, when one 429 is all there
is to go by: it cannot tell a bucket's rate from its burst."""
MIN_SPAN: Final = 0.25
"""Seconds a span must last for its success count alone to say what rate was accepted."""
CHUNK_SHARE: Final = 0.8
"""A chunk after a pause under this share of the rate accepted since demand began (pauses
included) shows a bucket refilling faster than the pause, not a window."""
FIT_SHARE: Final = 0.9
"""A bucket fitted to two 429s must have a rate under this share of the rate the second
chunk was sent at: closer, the fit is noise."""
WINDOW_SHARE: Final = 0.9
"""A window gives its quota in every window: if slow start's last pause-length got less than
this share of the refill after the pause, no window explains both 429s."""

# -- the adaptive rate -------------------------------------------------------------------------

SLOW_START_GAIN: Final = math.log(2) / 0.05
"""Slow start adds this much rate per success: at rate ``r`` that is ``r / 20`` successes per
0.05 s, each adding ``ln 2 / 0.05``: the rate doubles every 0.05 s ..."""
SLOW_START_STEP: Final = 0.05
"""... and never faster: within each such step it at most doubles, however many replies come
at once (a fleet reports its successes in batches)."""
PLATEAU: Final = 0.97
"""Within this share of the last known limit the additive increase creeps: each probe past the
limit costs a 429 and its pause."""
PROBE_SLOWDOWN: Final = 0.1
"""... to this share of its usual step."""
COSTLY_PAUSE: Final = 20.0
"""A 429 whose pause is worth more than this many requests at the current rate is costly: it
stalls every call as long."""
PAUSE_BUDGET: Final = 0.03
"""Probing past the last known limit (or climbing at all after a costly 429) is allowed only
while the pauses so far, with the one a failed probe would add, stay under this share of the
time since callers were first held back: at a one-second pause, one probe per half minute."""
MARGIN: Final = 0.97
"""After a costly 429 the rate goes this much under the limit read from what was accepted."""
LOG_SIZE: Final = 4096
"""Successes remembered (by when their request was sent) to count what the service accepted."""


# -- rate-limit headers -----------------------------------------------------------------------

SENT_HORIZON: Final = 60.0
"""Turns given longer ago than this are forgotten when a reply's rate-limit headers come: the
replies to them are long in, and a reply subtracts only the turns given after its own."""
SENT_KEPT: Final = 4096
"""... and past twice this many, the oldest half is forgotten, headers or not: a reply older
than every turn kept subtracts them all, which only slows the pace."""


def constants() -> dict[str, float]:
    """Every constant above by name, for the Lua scripts."""
    return {name: globals()[name] for name in __all__}

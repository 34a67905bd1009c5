"""When an earlier run started the items it left in doubt, read from its journal.

Each ``start`` line carries ``t``, the wall-clock time (seconds since the epoch) the item was
started. Reconciling an in-doubt item on resume needs it: a message stamped before that time is
not the item's. A journal without ``t`` (written before it was recorded) gives no time, and its
in-doubt items stay in doubt.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["read_start_times"]


def _start_time(record: dict[str, object]) -> float | None:
    started = record.get("t")
    if isinstance(started, bool) or not isinstance(started, (int, float)):
        return None
    return float(started) if math.isfinite(started) else None


def read_start_times(path: Path) -> dict[str, float]:
    """The earliest start time of each item the journal leaves open or in doubt (blocking).

    An item that ended ``sent`` is forgotten; one that ended ``failed`` (not delivered) is
    forgotten until it is started again. Unreadable lines are skipped: the journal's own replay
    has judged the file already.
    """
    starts: dict[str, float] = {}
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return starts
    with handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # torn by a crash mid-write
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or not isinstance(record.get("k"), str):
                continue
            key, status = record["k"], record.get("s")
            if status == "start":
                started = _start_time(record)
                if started is not None:
                    starts.setdefault(key, started)
            elif status in ("sent", "failed"):
                starts.pop(key, None)
    return starts

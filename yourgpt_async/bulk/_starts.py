"""The items an earlier run left in doubt: when they started, and what reading back made of them.

Each ``start`` line carries ``t``, the wall-clock time (seconds since the epoch) the item was
started. Reconciling an in-doubt item on resume needs it: an item stamped before that time is
not the item's call's own. A journal without ``t`` (written before it was recorded) gives no
time, and its in-doubt items stay in doubt.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeVar

from .._exceptions import DeliveryUnknownError
from .._settle import Found, Outcome
from ._kind import BulkKind, Prepared
from ._outcomes import InDoubt, Sent

__all__ = ["left_in_doubt", "read_start_times", "sent", "settled_earlier"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


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
            except (ValueError, RecursionError):
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


def _earlier(unfinished: bool) -> str:
    """What an earlier run did with an item the journal leaves in doubt."""
    if unfinished:
        return (
            "started by an earlier run that stopped (killed, or interrupted with its request on "
            "the wire) before recording its outcome"
        )
    return "sent by an earlier run that got no usable answer"


def _in_doubt(prepared: Prepared[ItemT], kind: BulkKind[ItemT, Any], text: str) -> InDoubt[ItemT]:
    assert prepared.endpoint is not None  # only a valid item is in doubt
    error = DeliveryUnknownError(
        f"item {prepared.index} (key {prepared.key!r}): {text}; it may have been {kind.done}, "
        f"so it was not sent again. {kind.check}",
        endpoint=prepared.endpoint.name,
    )
    return InDoubt(item=prepared.item, error=error, key=prepared.key, index=prepared.index)


def sent(prepared: Prepared[ItemT], reply: ResultT, *, settled: bool) -> Sent[ItemT, ResultT]:
    """The outcome of an item whose call took effect: in this run, or (``settled``) found done
    by reading the service back."""
    item, key, index = prepared.item, prepared.key, prepared.index
    return Sent(item=item, reply=reply, key=key, index=index, settled=settled)


def settled_earlier(
    prepared: Prepared[ItemT],
    kind: BulkKind[ItemT, ResultT],
    found: Found[Any],
    *,
    unfinished: bool,
) -> Sent[ItemT, ResultT] | InDoubt[ItemT]:
    """The outcome of an earlier run's in-doubt item that a read-back found done, or could not
    settle."""
    if found.outcome is Outcome.DELIVERED:
        return sent(prepared, kind.result(prepared, found.item), settled=True)
    return _in_doubt(
        prepared,
        kind,
        f"{_earlier(unfinished)}, and reading the service back did not settle it ({found.reason})",
    )


def left_in_doubt(
    prepared: Prepared[ItemT], kind: BulkKind[ItemT, Any], *, unfinished: bool
) -> InDoubt[ItemT]:
    """The outcome of an item an earlier run left in doubt: sent without an answer, or
    started and never ended."""
    return _in_doubt(prepared, kind, _earlier(unfinished))

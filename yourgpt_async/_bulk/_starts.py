"""The items an earlier run left in doubt: when they started, and what reading back made of them.

Each ``start`` line carries ``t``, the wall-clock time (seconds since the epoch) the item was
started. Reconciling an in-doubt item on resume needs it: a message stamped before that time is
not the item's. A journal without ``t`` (written before it was recorded) gives no time, and its
in-doubt items stay in doubt.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .._config import RetryPolicy
from .._exceptions import DeliveryUnknownError
from .._models import Page, SessionMessage
from .._project_api import SEND_MESSAGE
from .._readback import as_message
from .._settle import READ_BACK_LIMIT, Outcome, Verdict
from ._items import Prepared
from ._outcomes import InDoubt, Sent
from ._protocol import BulkClient

__all__ = ["left_in_doubt", "read_back", "read_start_times", "settled_earlier"]


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


async def read_back(
    client: BulkClient, session_uid: str, page: int, budget: RetryPolicy
) -> Page[SessionMessage]:
    return await client.get_session_messages(
        session_uid, page=page, limit=READ_BACK_LIMIT, order="DESC", retry=budget
    )


def settled_earlier(prepared: Prepared, verdict: Verdict) -> Sent | InDoubt:
    """The outcome of an earlier run's in-doubt item that a read-back found delivered or not."""
    item, key, index = prepared.item, prepared.key, prepared.index
    if verdict.outcome is Outcome.DELIVERED:
        reply = as_message(verdict, item.session_uid)
        return Sent(item=item, reply=reply, key=key, index=index, settled=True)
    error = DeliveryUnknownError(
        f"item {index} (key {key!r}) was started by an earlier run that never recorded how it "
        f"ended, and reading the session back did not settle it: {verdict.reason}; it was not "
        "resent. Check the session's messages, or resume with resend_in_doubt=True",
        endpoint=SEND_MESSAGE.name,
    )
    return InDoubt(item=item, error=error, key=key, index=index)


def left_in_doubt(prepared: Prepared) -> InDoubt:
    """The outcome of an item an earlier run started and never recorded the end of."""
    error = DeliveryUnknownError(
        f"item {prepared.index} (key {prepared.key!r}) was started by an earlier run that never "
        "recorded how it ended, so it may have been delivered; it was not resent. "
        "Check the session's messages, or resume with resend_in_doubt=True",
        endpoint=SEND_MESSAGE.name,
    )
    return InDoubt(item=prepared.item, error=error, key=prepared.key, index=prepared.index)

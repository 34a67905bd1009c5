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


async def read_back(
    client: BulkClient, session_uid: str, page: int, budget: RetryPolicy
) -> Page[SessionMessage]:
    return await client.get_session_messages(
        session_uid, page=page, limit=READ_BACK_LIMIT, order="DESC", retry=budget
    )


def _earlier(unfinished: bool) -> str:
    """What an earlier run did with an item the journal leaves in doubt."""
    if unfinished:
        return (
            "started by an earlier run that stopped (killed, or interrupted with its request on "
            "the wire) before recording its outcome"
        )
    return "sent by an earlier run that got no usable answer"


def _in_doubt(prepared: Prepared, text: str) -> InDoubt:
    error = DeliveryUnknownError(
        f"item {prepared.index} (key {prepared.key!r}): {text}; it may have been delivered, so "
        "it was not sent again. Check the session's messages (get_session_messages), or resume "
        "with resend_in_doubt=True to send it again at the risk of a duplicate",
        endpoint=SEND_MESSAGE.name,
    )
    return InDoubt(item=prepared.item, error=error, key=prepared.key, index=prepared.index)


def settled_earlier(prepared: Prepared, verdict: Verdict, *, unfinished: bool) -> Sent | InDoubt:
    """The outcome of an earlier run's in-doubt item that a read-back found delivered or not."""
    item, key, index = prepared.item, prepared.key, prepared.index
    if verdict.outcome is Outcome.DELIVERED:
        reply = as_message(verdict, item.session_uid)
        return Sent(item=item, reply=reply, key=key, index=index, settled=True)
    return _in_doubt(
        prepared,
        f"{_earlier(unfinished)}, and reading the session back did not settle it "
        f"({verdict.reason})",
    )


def left_in_doubt(prepared: Prepared, *, unfinished: bool) -> InDoubt:
    """The outcome of an item an earlier run left in doubt: sent without an answer, or
    started and never ended."""
    return _in_doubt(prepared, _earlier(unfinished))

"""Bulk sending: ``AsyncClient.send_many``, its outcomes, and the crash-safe journal.

- ``_outcomes``: the items and outcomes a run takes and yields, and its counts;
- ``_items``: an input checked and normalised into an item with its key (``prepare``);
- ``_journal``: the journal's format, the replay of an earlier run, the group-commit writer;
- ``_engine``: :class:`BulkRun`, which sends the items and hands over their outcomes;
- ``_protocol``: what the engine needs of a client (this package never imports the client).
"""

from ._engine import BulkRun
from ._items import BulkInput
from ._outcomes import BulkItem, BulkOutcome, BulkSummary, Failed, InDoubt, Sent

__all__ = [
    "BulkInput",
    "BulkItem",
    "BulkOutcome",
    "BulkRun",
    "BulkSummary",
    "Failed",
    "InDoubt",
    "Sent",
]

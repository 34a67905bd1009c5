"""Many messages at once: :meth:`AsyncClient.send_many`'s items, outcomes and run, and
:func:`read_items`, which reads them from a JSON-lines or CSV file.

The names of the run and its outcomes are exported from ``yourgpt_async`` too. Inside:

- ``_outcomes``: the items and outcomes a run takes and yields, and its counts;
- ``_items``: an input checked and normalised into an item with its key (``prepare``);
- ``_input``: the file reader (:func:`read_items`);
- ``_keys``: a compact set of item keys; ``_journal``: the journal's format, the replay of an
  earlier run, the group-commit writer; ``_starts``: an earlier run's in-doubt items;
- ``_engine``: :class:`BulkRun`, which sends the items and hands over their outcomes;
- ``_protocol``: what the engine needs of a client (this package never imports the client).
"""

from ._engine import BulkRun
from ._input import FileFormat, ItemFile, read_items
from ._items import BulkInput
from ._outcomes import BulkItem, BulkOutcome, BulkSummary, Failed, InDoubt, Sent
from ._protocol import BulkClient

__all__ = [
    "BulkClient",
    "BulkInput",
    "BulkItem",
    "BulkOutcome",
    "BulkRun",
    "BulkSummary",
    "Failed",
    "FileFormat",
    "InDoubt",
    "ItemFile",
    "Sent",
    "read_items",
]

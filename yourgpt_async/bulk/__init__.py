"""Many calls at once: the bulk engine (:class:`BulkRun`), its outcomes and items, and
:func:`read_items`, which reads messages from a JSON-lines or CSV file.

``AsyncClient.send_many`` sends messages, ``project.training.add_many`` adds FAQs, texts and
files, ``project.contacts.link_tags_many`` tags contacts: one engine, each over its endpoint.
The names of the run, its outcomes and its items are exported from ``yourgpt_async`` too.
Inside:

- ``_kind``: what the engine is told of a kind of item (``BulkKind``): how an input becomes a
  call of a declared endpoint, its key, its result, the advice for one left in doubt;
- ``_items``: the keys and checks every kind shares;
- ``_messages``, ``_platform_items``: the items of ``send_many``, and of the training imports
  and the contact tagging (whose kinds are described beside their endpoints, in ``platform``);
- ``_outcomes``: the outcomes a run yields, and its counts;
- ``_input``: the file reader (:func:`read_items`, and the command line's other readers);
- ``_keys``: a compact set of item keys; ``_journal``: the journal's format, the replay of an
  earlier run, the group-commit writer; ``_starts``: an earlier run's in-doubt items;
- ``_source``: the input, pulled lazily;
- ``_engine``: :class:`BulkRun`, which makes the calls and hands over their outcomes.
"""

from ._engine import BulkRun
from ._input import FileFormat, ItemFile, read_items
from ._messages import BulkInput, BulkItem
from ._outcomes import BulkOutcome, BulkSummary, Failed, InDoubt, Sent
from ._platform_items import (
    ContactTagsInput,
    ContactTagsItem,
    FaqItem,
    FileItem,
    TextItem,
    TrainingInput,
)

__all__ = [
    "BulkInput",
    "BulkItem",
    "BulkOutcome",
    "BulkRun",
    "BulkSummary",
    "ContactTagsInput",
    "ContactTagsItem",
    "Failed",
    "FaqItem",
    "FileFormat",
    "FileItem",
    "InDoubt",
    "ItemFile",
    "Sent",
    "TextItem",
    "TrainingInput",
    "read_items",
]

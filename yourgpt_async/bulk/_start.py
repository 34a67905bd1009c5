"""How the clients' bulk methods (``send_many``, ``training.add_many``,
``contacts.link_tags_many``) start a run: :func:`start_run`, one kind of call through a client's
caller, at the run's priority, reconciling when the client's policy does."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from .._calls import Caller
from ..types import Priority
from ._engine import BulkRun
from ._kind import BulkKind, _Job
from ._outcomes import BulkSummary

__all__ = ["start_run"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


def start_run(
    kind: BulkKind[ItemT, ResultT],
    caller: Caller,
    items: Iterable[Any] | AsyncIterable[Any],
    *,
    fields: Mapping[str, Any],
    concurrency: int,
    priority: Priority | str,
    ordered: bool = False,
    journal: str | os.PathLike[str] | None = None,
    progress: Callable[[BulkSummary], object] | None = None,
    resend_in_doubt: bool = False,
) -> BulkRun[ItemT, ResultT]:
    """A run of ``kind``'s calls through ``caller`` (a client's), at ``priority``, each call
    carrying ``fields``; settled by read-back when the caller's policy reconciles."""
    view = caller.with_options(
        timeout=None, retry=None, max_retries=None, headers=None, priority=priority
    )
    return BulkRun(
        _Job(kind, view, fields),
        items,
        concurrency=concurrency,
        ordered=ordered,
        journal=journal,
        progress=progress,
        resend_in_doubt=resend_in_doubt,
        reconcile=view.retry if view.retry.reconcile else None,
    )

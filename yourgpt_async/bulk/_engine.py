"""The bulk engine: :class:`BulkRun` pulls items lazily, keeps at most ``concurrency`` of them
in flight, each a call of a declared endpoint through the client's own caller (so retries,
pacing and the concurrency gate are shared), and yields one :class:`Sent`, :class:`Failed` or
:class:`InDoubt` per item. With a journal it records each item's start durably before the
request leaves, so a killed run resumes without duplicates. What the items are, and what their
calls return, a :class:`~._kind.BulkKind` says: nothing here knows of messages or texts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Generic, TypeAlias, TypeVar

import attrs

from .._calls import Reader
from .._config import RetryPolicy
from .._endpoints import Endpoint, Reconciler
from .._exceptions import (
    AuthenticationError,
    ConfigurationError,
    DeliveryUnknownError,
    PermissionDeniedError,
    QuotaExceededError,
    YourGPTError,
)
from .._inflight import CALL_STATE, CallState
from .._readback import track
from .._settle import Outcome
from .._validate import positive_int, short
from ._items import check_unique_keys, duplicate_key
from ._journal import FINGERPRINT_ITEMS, UNFINISHED, Journal, State
from ._keys import KeyTable
from ._kind import BulkKind, Prepared, _Job
from ._outcomes import BulkSummary, Failed, InDoubt, Sent
from ._source import Source
from ._starts import left_in_doubt, read_start_times, sent, settled_earlier

__all__ = ["BulkRun", "outcome_for"]

logger = logging.getLogger("yourgpt_async")

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

_Outcome: TypeAlias = "Sent[ItemT, ResultT] | Failed[ItemT] | InDoubt[ItemT]"
Refusal: TypeAlias = AuthenticationError | PermissionDeniedError | QuotaExceededError
"""An error no later item of the run can get past: a refused credential, a missing
permission, a spent plan quota."""

_PROGRESS_INTERVAL: Final = 0.1  # seconds between two progress callbacks
_YIELD_EVERY: Final = 256  # pull this many items without a request, then let the loop run
_NOT_SENT: Final = "not sent: the run stopped before this item's request left"
# An item waiting for the service to settle (reconcile) sends nothing: it frees its place for
# another, up to this many waiting per place, so that memory stays bounded.
_WAITING_PER_PLACE: Final = 16


def _check_args(  # noqa: PLR0917 - private, called once with every argument
    items: object,
    concurrency: object,
    ordered: object,
    journal: object,
    progress: object,
    resend_in_doubt: object,
    reconcile: object,
    kind: BulkKind[Any, Any],
) -> None:
    if isinstance(items, (str, bytes)) or not isinstance(items, (Iterable, AsyncIterable)):
        raise ConfigurationError(
            f"items must be an iterable or async iterable of {kind.accepts}, got "
            f"{type(items).__name__}: {short(items)}"
        )
    positive_int("concurrency", concurrency)
    for name, value in (("ordered", ordered), ("resend_in_doubt", resend_in_doubt)):
        if not isinstance(value, bool):
            raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    if journal is not None and not isinstance(journal, (str, os.PathLike)):
        raise ConfigurationError(f"journal must be a path (str or os.PathLike), got {journal!r}")
    if reconcile is not None and not isinstance(reconcile, RetryPolicy):
        raise ConfigurationError(f"reconcile must be a RetryPolicy or None, got {reconcile!r}")
    if progress is not None and not callable(progress):
        raise ConfigurationError(
            f"progress must be a callable taking a BulkSummary, got {progress!r}"
        )


class BulkRun(Generic[ItemT, ResultT]):
    """A bulk run in progress: an async iterator of outcomes and an async context manager.

    Made by :meth:`AsyncClient.send_many`, ``project.training.add_many`` and
    ``project.contacts.link_tags_many``; nothing happens until it is iterated. Use it in
    ``async with`` so that leaving early (``break``, an exception, cancellation) cancels the
    items in flight and closes the journal at once::

        async with client.send_many(items, journal="run.jsonl") as run:
            async for outcome in run:
                ...
        print(run.summary())

    A plain ``async for`` works too; if it is left early, the run is closed when it is garbage
    collected.
    """

    def __init__(
        self,
        job: _Job[ItemT, ResultT],
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int,
        ordered: bool = False,
        journal: str | os.PathLike[str] | None = None,
        progress: Callable[[BulkSummary], object] | None = None,
        resend_in_doubt: bool = False,
        reconcile: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_args(
            items, concurrency, ordered, journal, progress, resend_in_doubt, reconcile, job.kind
        )
        if isinstance(items, Sequence):  # a list is checked whole before anything is sent
            check_unique_keys(items, job.kind.own_key)
        self._job = job
        self._kind = job.kind
        self._source = Source(items)
        self._concurrency = concurrency
        self._ordered = ordered
        self._journal_path = None if journal is None else Path(journal)
        self._progress = progress
        self._resend_in_doubt = resend_in_doubt
        # The client's policy when it reconciles: its calls are settled by the endpoint's
        # reconciler, and an earlier run's in-doubt items here, from the journal's start times.
        self._reconcile = reconcile
        self._reconcilers: dict[str, Reconciler[Any]] = {}
        self._starts: dict[str, float] = {}
        self._keys = KeyTable()  # the items' own keys taken so far, to refuse one used twice
        self._asking: set[CallState] = set()  # the calls being made now
        self._at_capacity = False  # the last look for more items found no free place
        self._waiting = 0  # items in a settle wait
        self._clock = clock
        self._journal: Journal | None = None
        self._stopping = False
        self._stopped_by: Refusal | None = None
        self._index = 0  # position in the input of the next item taken
        self._pull: asyncio.Task[tuple[bool, object]] | None = None
        # task -> sequence number; and whether its request left
        self._in_flight: dict[asyncio.Task[_Outcome[ItemT, ResultT]], int] = {}
        self._calls: dict[asyncio.Task[_Outcome[ItemT, ResultT]], CallState] = {}
        self._done: deque[asyncio.Task[_Outcome[ItemT, ResultT]]] = deque()  # not yet collected
        self._wakeup: asyncio.Future[None] | None = None
        self._started: float | None = None
        self._ended: float | None = None
        self._last_report = -float("inf")
        self._counts = dict.fromkeys(
            ("sent", "failed", "in_doubt", "skipped", "cancelled", "settled", "read_backs"), 0
        )
        self._counts["not_sent"] = 0
        # Sequence numbers go to the items that will have an outcome, in the order they are taken.
        self._sequence = 0  # of the next such item
        self._head = 0  # of the next outcome to hand over, with `ordered`
        # Sequence number -> outcome not handed over (None: an item stopped before it was sent).
        self._ready: dict[int, _Outcome[ItemT, ResultT] | None] = {}
        self._agen: AsyncGenerator[_Outcome[ItemT, ResultT], None] = self._drive()

    # -- the public surface ----------------------------------------------------------------

    def __aiter__(self) -> BulkRun[ItemT, ResultT]:
        return self

    def __anext__(self) -> Awaitable[Sent[ItemT, ResultT] | Failed[ItemT] | InDoubt[ItemT]]:
        return self._agen.__anext__()

    async def __aenter__(self) -> BulkRun[ItemT, ResultT]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the run now: cancel the items in flight, commit and close the journal.

        Cancelled items are counted in ``summary().cancelled``; a journal reports those that had
        started as in doubt when the run is resumed. Safe to call twice.
        """
        await self._agen.aclose()

    def stop(self) -> None:
        """Take no new items, and cancel those whose request has not left; the run ends once
        the requests on the wire have their outcomes.

        An item still waiting for its turn (the concurrency limit or the rate limit) is not
        sent: it gets no outcome, is counted in ``summary().not_sent``, and a journal records
        it as not sent, so a resumed run sends it. Safe to call from a signal handler running
        in the event loop.
        """
        self._stopping = True
        if self._pull is not None:
            self._pull.cancel()
        for task, call in self._calls.items():
            if call.unsent:
                task.cancel()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` has been called (or the run stopped itself)."""
        return self._stopping

    @property
    def stopped_by(self) -> AuthenticationError | PermissionDeniedError | QuotaExceededError | None:
        """The error that stopped the run, or ``None``.

        The first 401 (:class:`~yourgpt_async.AuthenticationError`: a revoked, expired or
        inactive credential), 403 (:class:`~yourgpt_async.PermissionDeniedError`: a missing
        permission or project) or spent plan quota (:class:`~yourgpt_async.QuotaExceededError`)
        stops the run as :meth:`stop` does: every later item would be refused the same way. The
        items in flight end with their outcomes; the rest are not sent, and a resumed run
        (with a journal) sends them once the cause is fixed.
        """
        return self._stopped_by

    def summary(self) -> BulkSummary:
        """The counts so far, or in all once the run is over."""
        now = self._clock() if self._ended is None else self._ended
        return BulkSummary(
            **self._counts,
            in_flight=len(self._in_flight),
            waiting=sum(not call.sending for call in self._asking),
            at_capacity=self._at_capacity,
            elapsed=0.0 if self._started is None else now - self._started,
            finished=self._ended is not None,
        )

    # -- the engine ------------------------------------------------------------------------

    async def _drive(self) -> AsyncGenerator[_Outcome[ItemT, ResultT], None]:
        """Pull, start, collect and hand over; at most ``concurrency`` items outstanding.

        An item is outstanding from when it is taken until its outcome is handed over (in
        order, with ``ordered``), so neither the tasks nor the outcomes waiting for an earlier
        one grow with the input.
        """
        self._started = self._clock()
        finished = False
        try:
            if self._journal_path is not None:
                self._journal = await self._open_journal(self._journal_path)
            while True:
                while (outcome := self._next_ready()) is not None:
                    yield outcome
                await self._take()
                if self._can_hand_over():
                    self._report()
                    continue
                if not self._in_flight and self._pull is None:
                    break  # the input is exhausted (or the run stopped) and nothing is pending
                await self._wait()
                self._collect_pull()
                self._collect_done()
                self._report()
            finished = True
        finally:
            await self._shut_down()
            if finished:
                self._report(final=True)

    def _next_ready(self) -> _Outcome[ItemT, ResultT] | None:
        """Take the next outcome that may be handed over now, if any."""
        if self._ordered:
            while self._head in self._ready:
                outcome = self._ready.pop(self._head)
                self._head += 1
                if outcome is not None:  # None: an item that was not sent has no outcome
                    return outcome
            return None
        if not self._ready:
            return None
        return self._ready.pop(next(iter(self._ready)))

    def _can_hand_over(self) -> bool:
        return bool(self._ready) and (not self._ordered or self._head in self._ready)

    def _outstanding(self) -> int:
        """Items taken whose outcome has not been handed over, less those waiting to settle."""
        waiting = min(self._waiting, _WAITING_PER_PLACE * self._concurrency)
        if self._ordered:
            return self._sequence - self._head - waiting
        return len(self._in_flight) + len(self._ready) - waiting

    def _on_wait(self, started: bool) -> None:
        """An item began or ended a settle wait: while it waits, another may start."""
        self._waiting += 1 if started else -1
        if started:
            self._wake(None)

    async def _take(self) -> None:
        """Take inputs while fewer than ``concurrency`` are outstanding and one is at hand.

        When an async input has none at hand, start pulling the next one in the background.
        """
        taken = 0
        self._at_capacity = False
        while not self._stopping and not self._source.exhausted and self._pull is None:
            if self._outstanding() >= self._concurrency:
                self._at_capacity = True
                break
            found, raw = self._source.next_now()
            if not found:
                if self._source.is_async and not self._source.exhausted:
                    self._pull = asyncio.create_task(self._source.next(), name="yourgpt-bulk-pull")
                    self._pull.add_done_callback(self._wake)
                break
            self._admit(raw)
            taken += 1
            if taken % _YIELD_EVERY == 0:
                self._report()
                await asyncio.sleep(0)  # a long run of skipped items must not hog the loop

    async def _wait(self) -> None:
        """Wait until an item in flight finishes or the background pull ends."""
        if not self._done and (self._pull is None or not self._pull.done()):
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
            self._wakeup = None

    def _collect_pull(self) -> None:
        """Take the input the background pull brought, once it has ended."""
        pull = self._pull
        if pull is not None and pull.done():
            self._pull = None
            if not pull.cancelled():
                found, raw = pull.result()
                if found and not self._stopping:
                    self._admit(raw)

    def _collect_done(self) -> None:
        """Move the outcomes of the finished items to those ready to hand over."""
        while self._done:
            task = self._done.popleft()
            number = self._in_flight.pop(task)
            self._calls.pop(task, None)
            if task.cancelled():  # stopped before its request left: no outcome
                self._counts["not_sent"] += 1
                if self._ordered:
                    self._ready[number] = None
                continue
            outcome = task.result()  # a journal failure ends the run here
            self._count(outcome)
            self._ready[number] = outcome
            self._stop_if_refused(outcome)

    def _stop_if_refused(self, outcome: _Outcome[ItemT, ResultT]) -> None:
        """Stop the run at the first refused credential, missing permission or spent quota:
        every later item would be refused too."""
        error = outcome.error if isinstance(outcome, Failed) else None
        if not isinstance(error, Refusal):
            return
        if self._stopped_by is None:
            self._stopped_by = error
            logger.info(
                "bulk run stopped at item %d: %s; the items in flight end with their outcomes, "
                "no other is sent (a journal lets a later run send only the rest)",
                outcome.index,
                error,
            )
        self.stop()

    def _wake(self, _: object) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _on_done(self, task: asyncio.Task[_Outcome[ItemT, ResultT]]) -> None:
        if task in self._in_flight:
            self._done.append(task)
            self._wake(None)

    async def _open_journal(self, path: Path) -> Journal:
        ended = await self._source.look_ahead(FINGERPRINT_ITEMS)
        prepare = self._kind.prepare
        head = [prepare(raw, index).key for index, raw in enumerate(self._source.buffer)]
        journal = await Journal.open(path, head, ended)
        if self._reconcile is not None:
            self._starts = await asyncio.to_thread(read_start_times, path)
        return journal

    def _admit(self, raw: object) -> None:
        """Start one input, or settle it at once, or skip it if an earlier run did it.

        An item that will have an outcome gets the next sequence number.
        """
        index = self._index
        self._index += 1
        item = self._kind.prepare(raw, index)
        outcome: _Outcome[ItemT, ResultT]
        if item.error is None and not item.key.startswith("#") and self._keys.add(item.key):
            error = duplicate_key(index, item.key)  # never journalled: the key is the other's
            item = attrs.evolve(item, error=error, problem=error.message)
        if item.error is not None:
            outcome = Failed(item=item.item, error=item.error, key=item.key, index=index)
        else:
            state = State.NEW if self._journal is None else self._journal.state(item)
            if state == State.CONFIRMED:
                self._counts["skipped"] += 1
                return
            found = self._earlier(item, state)
            if isinstance(found, InDoubt):
                outcome = found
            else:
                call = CallState()
                work = (
                    self._send(item, call)
                    if found is None
                    else self._resume(item, found, call, unfinished=state == State.UNFINISHED)
                )
                task = asyncio.create_task(work, name=f"yourgpt-bulk-{index}")
                self._calls[task] = call
                self._in_flight[task] = self._sequence
                self._sequence += 1
                task.add_done_callback(self._on_done)
                return
        self._count(outcome)
        self._ready[self._sequence] = outcome
        self._sequence += 1

    def _earlier(self, prepared: Prepared[ItemT], state: int) -> float | InDoubt[ItemT] | None:
        """What to do about an item an earlier run left in doubt: ``None`` to send it (it is
        new, or repeating its call is safe, or the caller said to resend), its start time to
        read the service back first, or its outcome when neither can be done."""
        endpoint = prepared.endpoint
        if state not in State.DOUBTFUL or endpoint is None or endpoint.idempotent:
            return None
        started = self._starts.pop(prepared.key, None)
        if started is not None and endpoint.reconcile is not None:
            return started
        if self._resend_in_doubt:
            return None
        unfinished = state == State.UNFINISHED
        assert self._journal is not None
        self._journal.note(prepared.key, "in_doubt", **({"why": UNFINISHED} if unfinished else {}))
        return left_in_doubt(prepared, self._kind, unfinished=unfinished)

    async def _send(self, prepared: Prepared[ItemT], call: CallState) -> _Outcome[ItemT, ResultT]:
        CALL_STATE.set(call)  # the transport marks when the request leaves (this task only)
        journal = self._journal
        report = None if self._reconcile is None else track(self._on_wait)
        outcome: _Outcome[ItemT, ResultT]
        try:
            if journal is not None:
                # Durable before the request can leave; `t` dates the item for a later read-back.
                await journal.record(prepared.key, "start", t=round(time.time(), 3))
            self._asking.add(call)
            reply = await self._job.call(prepared)
        except YourGPTError as error:
            outcome = outcome_for(prepared, error)
        except BaseException:
            # Cancelled (stop, close) or a raw error from a part of the client (a closed client,
            # a limiter's own failure), which ends the run. If no request left, say so, so that
            # a resumed run sends the item rather than report it in doubt.
            if journal is not None and call.unsent:
                journal.note(prepared.key, "failed", e=_NOT_SENT)
            raise
        else:
            settled = report is not None and report.settled
            outcome = sent(prepared, self._kind.result(prepared, reply), settled=settled)
        finally:
            self._asking.discard(call)
            if report is not None:
                self._counts["read_backs"] += report.read_backs
        if journal is not None:
            await self._record_end(journal, outcome)
        return outcome

    async def _resume(
        self, prepared: Prepared[ItemT], started: float, call: CallState, *, unfinished: bool
    ) -> _Outcome[ItemT, ResultT]:
        """Settle an item an earlier run left in doubt by reading the service back with its
        endpoint's reconciler.

        Done: ``Sent`` (settled), not made again. Not done: sent. Undecidable: in doubt, or
        sent with ``resend_in_doubt``.
        """
        policy, journal = self._reconcile, self._journal
        assert policy is not None
        assert journal is not None
        assert prepared.endpoint is not None
        report = track(self._on_wait)
        CALL_STATE.set(None)  # reading back sends nothing: stopping the run may cancel it
        caller = self._job.caller
        try:
            found = await self._reconciler(prepared.endpoint).earlier(
                Reader(caller, None, caller.priority), self._job.payload(prepared), policy, started
            )
        finally:
            self._counts["read_backs"] += report.read_backs
        if found.outcome is Outcome.NOT_DELIVERED or (
            found.outcome is not Outcome.DELIVERED and self._resend_in_doubt
        ):
            return await self._send(prepared, call)
        outcome = settled_earlier(prepared, self._kind, found, unfinished=unfinished)
        await self._record_end(journal, outcome, unfinished=unfinished)
        return outcome

    def _reconciler(self, endpoint: Endpoint[Any]) -> Reconciler[Any]:
        """The endpoint's reconciler, made once per run."""
        reconciler = self._reconcilers.get(endpoint.name)
        if reconciler is None:
            assert endpoint.reconcile is not None
            reconciler = self._reconcilers[endpoint.name] = endpoint.reconcile()
        return reconciler

    async def _record_end(
        self, journal: Journal, outcome: _Outcome[ItemT, ResultT], *, unfinished: bool = False
    ) -> None:
        result_id = self._kind.result_id(outcome.reply) if isinstance(outcome, Sent) else None
        await journal.record_end(outcome, result_id=result_id, unfinished=unfinished)

    def _count(self, outcome: _Outcome[ItemT, ResultT]) -> None:
        self._counts[outcome.status] += 1
        if isinstance(outcome, Sent) and outcome.settled:
            self._counts["settled"] += 1

    def _report(self, *, final: bool = False) -> None:
        if self._progress is None:
            return
        now = self._clock()
        if final or now - self._last_report >= _PROGRESS_INTERVAL:
            self._last_report = now
            self._progress(self.summary())

    async def _shut_down(self) -> None:
        """Cancel what is in flight, then commit and close the journal."""
        pull, self._pull = self._pull, None
        tasks = list(self._in_flight)
        for task in (*tasks, *([pull] if pull is not None else [])):
            task.cancel()
        try:
            if pull is not None or tasks:
                await asyncio.gather(*tasks, *([pull] if pull else []), return_exceptions=True)
        finally:
            for task in tasks:
                if task.cancelled():
                    unsent = task in self._calls and self._calls[task].unsent
                    self._counts["not_sent" if unsent else "cancelled"] += 1
                elif task.exception() is None:  # it had finished, uncollected
                    self._count(task.result())
            self._in_flight.clear()
            self._calls.clear()
            self._done.clear()
            self._ended = self._clock()
            journal, self._journal = self._journal, None
            if journal is not None:
                await journal.aclose()


def outcome_for(prepared: Prepared[ItemT], error: YourGPTError) -> Failed[ItemT] | InDoubt[ItemT]:
    """The outcome of an item whose call ended with ``error``.

    In doubt if the call may have taken effect (the client raised DeliveryUnknownError: no
    answer, a 5xx, or a 2xx it could not read, exactly as the item's method reports it);
    failed otherwise.
    """
    item, key, index = prepared.item, prepared.key, prepared.index
    if isinstance(error, DeliveryUnknownError):
        return InDoubt(item=item, error=error, key=key, index=index)
    return Failed(item=item, error=error, key=key, index=index)

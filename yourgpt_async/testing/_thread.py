"""Run an :class:`Emulator` on its own event loop in a background thread.

For code under test that is synchronous, or that runs its own event loop (``asyncio.run`` in a
script, another async framework): the emulator keeps serving whatever the caller's loop does.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from ._emulator import Emulator

__all__ = ["EmulatorThread"]


class EmulatorThread:
    """An :class:`Emulator` served from a daemon thread; a context manager.

    Args:
        **options: Passed to :class:`Emulator` (``rate_limit``, ``fault_plan``, ...).

    Example::

        with EmulatorThread() as emulator:
            os.environ["YOURGPT_BASE_URL"] = emulator.base_url
            run_my_script()
            assert len(emulator.emulator.ledger) == 3
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._emulator: Emulator | None = None

    @property
    def emulator(self) -> Emulator:
        """The running emulator (its ledger, fault plan, requests, ...)."""
        if self._emulator is None:
            raise RuntimeError("the EmulatorThread is not running; call start() first")
        return self._emulator

    @property
    def base_url(self) -> str:
        """The base URL to point a client at."""
        return self.emulator.base_url

    @property
    def api_key(self) -> str:
        """A key the emulator accepts."""
        return self.emulator.api_key

    @property
    def widget_uid(self) -> str:
        """A widget of the key's project."""
        return self.emulator.widget_uid

    def start(self) -> None:
        """Start serving; returns once the emulator accepts connections."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="yourgpt-emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("the emulator could not start") from self._failure

    def stop(self) -> None:
        """Stop serving and join the thread. Safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        thread.join()

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            emulator = Emulator(**self._options)
            loop.run_until_complete(emulator.start())
            self._emulator = emulator
        except BaseException as error:  # reported to start()
            self._failure = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(emulator.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

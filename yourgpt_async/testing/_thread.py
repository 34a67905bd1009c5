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

__all__ = ["EmulatorThread", "environment"]


def environment(emulator: Emulator) -> dict[str, str]:
    """The ``YOURGPT_*`` variables that point a client, or the command line, at ``emulator``:
    its base URL, API key and widget, organisation token, and the key's project's uid."""
    return {
        "YOURGPT_BASE_URL": emulator.base_url,
        "YOURGPT_API_KEY": emulator.api_key,
        "YOURGPT_WIDGET_UID": emulator.widget_uid,
        "YOURGPT_API_TOKEN": emulator.api_token,
        "YOURGPT_PROJECT_UID": emulator.project_uid,
    }


class EmulatorThread:
    """An :class:`Emulator` served from a daemon thread; a context manager.

    Args:
        **options: Passed to :class:`Emulator` (``rate_limit``, ``fault_plan``, ...).

    Example::

        with EmulatorThread() as emulator:
            subprocess.run(["python", "my_script.py"], env={**os.environ, **emulator.env})
            assert len(emulator.emulator.ledger) == 3
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._emulator: Emulator | None = None
        self._lock = threading.Lock()  # start() and stop() from several threads

    @property
    def emulator(self) -> Emulator:
        """The running emulator (its ledger, fault plan, requests, ...); after :meth:`stop`,
        the last one, stopped."""
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

    @property
    def api_token(self) -> str:
        """An organisation token the emulator accepts (an owner's, for every project)."""
        return self.emulator.api_token

    @property
    def project_uid(self) -> str:
        """The ``project_uid`` of the key's project, for the Platform API."""
        return self.emulator.project_uid

    @property
    def env(self) -> dict[str, str]:
        """The variables that point ``AsyncClient()``, ``AsyncPlatformClient()`` and the
        command line at the emulator: ``YOURGPT_BASE_URL``, ``YOURGPT_API_KEY``,
        ``YOURGPT_WIDGET_UID``, ``YOURGPT_API_TOKEN`` and ``YOURGPT_PROJECT_UID`` (which the
        command line's ``--project`` falls back to)."""
        return environment(self.emulator)

    def start(self) -> None:
        """Start serving; returns once the emulator accepts connections. Does nothing if it is
        serving already; after :meth:`stop`, serves again (a new emulator, with no state).

        Raises:
            RuntimeError: The emulator could not start (its cause says why: a port in use, a
                bad option); the thread is then stopped, and ``start()`` may be tried again.
        """
        with self._lock:
            if self._thread is not None:
                return
            ready = threading.Event()
            outcome: list[BaseException | Emulator] = []
            thread = threading.Thread(
                target=self._run, args=(ready, outcome), name="yourgpt-emulator", daemon=True
            )
            thread.start()
            ready.wait()
            if isinstance(outcome[0], BaseException):
                thread.join()
                raise RuntimeError("the emulator could not start") from outcome[0]
            self._thread, self._emulator = thread, outcome[0]

    def stop(self) -> None:
        """Stop serving and join the thread. Safe to call twice, or before :meth:`start`."""
        with self._lock:
            thread, loop = self._thread, self._loop
            self._thread = self._loop = None  # the emulator stays readable (its ledger)
            if thread is None or loop is None:
                return
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    def _run(self, ready: threading.Event, outcome: list[BaseException | Emulator]) -> None:
        """The thread: start an emulator on a loop of its own, serve until stopped, clean up."""
        loop = asyncio.new_event_loop()
        try:
            emulator = Emulator(**self._options)
            loop.run_until_complete(emulator.start())
        except BaseException as error:  # reported to start()
            loop.close()
            outcome.append(error)
            ready.set()
            return
        self._loop = loop
        outcome.append(emulator)
        ready.set()
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

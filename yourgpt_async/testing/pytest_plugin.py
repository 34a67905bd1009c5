"""pytest fixtures for testing code that uses yourgpt-async, registered on install.

- ``yourgpt_emulator``: an emulator serving on loopback for the test (from a background
  thread, so it works with any event loop and with synchronous code).
- ``yourgpt_env``: the same emulator, with ``YOURGPT_API_KEY``, ``YOURGPT_WIDGET_UID`` and
  ``YOURGPT_BASE_URL`` set to it, so code that builds ``AsyncClient()`` from the environment
  talks to the emulator unchanged.
- ``yourgpt_client``: an ``AsyncClient`` bound to the emulator (needs pytest-asyncio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ._thread import EmulatorThread

__all__ = ["yourgpt_emulator", "yourgpt_env"]


@pytest.fixture
def yourgpt_emulator() -> Iterator[EmulatorThread]:
    """An emulator of the YourGPT API on a loopback port, for one test."""
    with EmulatorThread() as emulator:
        yield emulator


@pytest.fixture
def yourgpt_env(
    yourgpt_emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> EmulatorThread:
    """Point the ``YOURGPT_*`` environment variables at the test's emulator."""
    monkeypatch.setenv("YOURGPT_API_KEY", yourgpt_emulator.api_key)
    monkeypatch.setenv("YOURGPT_WIDGET_UID", yourgpt_emulator.widget_uid)
    monkeypatch.setenv("YOURGPT_BASE_URL", yourgpt_emulator.base_url)
    return yourgpt_emulator


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the client fixture needs pytest-asyncio
    pass
else:
    from .._client import AsyncClient

    @pytest_asyncio.fixture
    async def yourgpt_client(yourgpt_emulator: EmulatorThread) -> AsyncIterator[AsyncClient]:
        """An :class:`~yourgpt_async.AsyncClient` bound to the test's emulator, closed after it."""
        async with AsyncClient(
            yourgpt_emulator.api_key,
            widget_uid=yourgpt_emulator.widget_uid,
            base_url=yourgpt_emulator.base_url,
        ) as client:
            yield client

    __all__ += ["yourgpt_client"]

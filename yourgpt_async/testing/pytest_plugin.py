"""pytest fixtures for testing code that uses yourgpt-async, registered on install.

- ``yourgpt_emulator``: an emulator serving on loopback for the test (from a background
  thread, so it works with any event loop and with synchronous code).
- ``yourgpt_env``: the same emulator, with ``YOURGPT_API_KEY``, ``YOURGPT_WIDGET_UID``,
  ``YOURGPT_API_TOKEN``, ``YOURGPT_PROJECT_UID`` and ``YOURGPT_BASE_URL`` set to it, so code
  that builds ``AsyncClient()`` or ``AsyncPlatformClient()`` from the environment (and the
  command line) talks to the emulator unchanged.
- ``yourgpt_client``: an ``AsyncClient`` bound to the emulator (needs pytest-asyncio).
- ``yourgpt_platform_client``: an ``AsyncPlatformClient`` bound to it, with an owner's token
  (needs pytest-asyncio).
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
    """Point the ``YOURGPT_*`` environment variables at the test's emulator: its key and
    widget, its organisation token, a project_uid and its base URL."""
    for name, value in yourgpt_emulator.env.items():
        monkeypatch.setenv(name, value)
    return yourgpt_emulator


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the client fixtures need pytest-asyncio
    pass
else:
    from .._client import AsyncClient
    from ..platform import AsyncPlatformClient

    @pytest_asyncio.fixture
    async def yourgpt_client(yourgpt_emulator: EmulatorThread) -> AsyncIterator[AsyncClient]:
        """An :class:`~yourgpt_async.AsyncClient` bound to the test's emulator, closed after it."""
        async with AsyncClient(
            yourgpt_emulator.api_key,
            widget_uid=yourgpt_emulator.widget_uid,
            base_url=yourgpt_emulator.base_url,
        ) as client:
            yield client

    @pytest_asyncio.fixture
    async def yourgpt_platform_client(
        yourgpt_emulator: EmulatorThread,
    ) -> AsyncIterator[AsyncPlatformClient]:
        """An :class:`~yourgpt_async.AsyncPlatformClient` bound to the test's emulator with an
        owner's token for every project, closed after the test."""
        async with AsyncPlatformClient(
            yourgpt_emulator.api_token, base_url=yourgpt_emulator.base_url
        ) as client:
            yield client

    __all__ += ["yourgpt_client", "yourgpt_platform_client"]

"""EmulatorThread's life cycle: start, stop, start again; a failed start; stop at any time."""

from __future__ import annotations

import socket
import threading

import pytest
from _fakes import new_session

from yourgpt_async.testing import EmulatorThread


def test_start_stop_start_serves_again() -> None:
    """After stop(), start() serves again (a new emulator), and stop() works each time."""
    emulator = EmulatorThread()
    emulator.start()
    first = emulator.base_url
    assert new_session(emulator)
    emulator.stop()
    emulator.start()
    try:
        assert new_session(emulator)
        assert len(emulator.emulator.ledger) == 0  # a fresh emulator
    finally:
        emulator.stop()
    assert first.startswith("http://127.0.0.1:")


def test_stop_is_idempotent_and_safe_before_start() -> None:
    """stop() before start(), and twice after it, does nothing and raises nothing; the last
    emulator's ledger stays readable after stop()."""
    emulator = EmulatorThread()
    emulator.stop()
    emulator.start()
    new_session(emulator)
    emulator.stop()
    emulator.stop()
    assert emulator.emulator.ledger == []  # readable, stopped


def test_a_failed_start_raises_and_a_later_start_works() -> None:
    """A start on a port in use raises RuntimeError naming the cause; starting again fails
    the same way (it does not hang), and once the port is free it serves."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        emulator = EmulatorThread(port=port)
        for _ in range(2):
            error = _start_within(emulator, seconds=20)
            assert isinstance(error, RuntimeError)
            assert isinstance(error.__cause__, OSError)
    try:
        assert _start_within(emulator, seconds=20) is None
        assert new_session(emulator)
    finally:
        emulator.stop()


def _start_within(emulator: EmulatorThread, *, seconds: float) -> BaseException | None:
    """Start ``emulator`` in a thread of its own; its error, or None. Fails if it hangs."""
    result: list[BaseException | None] = []

    def start() -> None:
        try:
            emulator.start()
        except BaseException as error:  # handed to the test
            result.append(error)
        else:
            result.append(None)

    attempt = threading.Thread(target=start, daemon=True)
    attempt.start()
    attempt.join(timeout=seconds)
    assert result, "start() hung"
    return result[0]


def test_the_emulator_is_not_reachable_before_start() -> None:
    """Before start() the emulator's properties say it is not running."""
    with pytest.raises(RuntimeError, match="not running"):
        _ = EmulatorThread().base_url

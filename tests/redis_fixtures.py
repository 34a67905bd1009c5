"""A throwaway redis-server for the Redis tests, and the worker those tests run as processes.

`RedisServer` runs `redis-server` on a free loopback port in a temporary directory, with no
persistence; `require_redis_server()` skips a test when no binary is installed, but fails it under
CI (`CI=true`), where the Redis tests must run. Run this file as a script to be one worker of a
fleet: `python redis_fixtures.py '<json settings>'` (see `worker_main`).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_READY_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses right now, below the ephemeral range.

    A server restarted on its port mid-test must find it still free: a port the kernel hands
    out for outgoing connections (or to another test process asking for port 0) could be
    taken meanwhile, so the port is drawn at random from 20000-29999 instead.
    """
    for _ in range(100):
        port = random.randrange(20000, 30000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-29999 on 127.0.0.1")


def require_redis_server() -> str:
    """The redis-server binary; skip the test without one, but fail it under CI."""
    import pytest

    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                "redis-server is not installed, and CI=true: the Redis tests must run in CI "
                "(.ci/run installs it with apt-get install redis-server)"
            )
        pytest.skip(
            "redis-server is not installed; install it (apt-get install redis-server, "
            "brew install redis) to run the Redis tests"
        )
    return binary


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server on 127.0.0.1 for one test; it can be killed and started again.

    Args:
        binary: The redis-server executable.
        directory: Its working directory (a temporary one).
        port: The port to listen on; the same after a restart.
    """

    def __init__(self, binary: str, directory: Path, port: int | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port() if port is None else port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server; return once it answers PING (or raise after 10 s)."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        while not _pings(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash or a lost machine would."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """Stop the server (SIGSTOP): connections stay open but nothing answers, like a hang."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server run again (SIGCONT)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Terminate the server and wait for it (killing it after 5 s)."""
        self.thaw()
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _work(settings: dict[str, Any]) -> dict[str, Any]:
    from yourgpt_async import AsyncClient, RedisRateLimit, RetryPolicy, YourGPTError

    limit = RedisRateLimit(
        settings["redis_url"],
        name=settings["name"],
        per_second=settings["per_second"],
        on_redis_error=settings.get("on_redis_error", "local"),
        expected_clients=settings.get("expected_clients", 1),
        reconnect_interval=settings.get("reconnect_interval", 5.0),
    )
    async with AsyncClient(
        settings["api_key"],
        widget_uid=settings["widget_uid"],
        base_url=settings["base_url"],
        rate_limit=limit,
        retry=RetryPolicy(attempts=20),  # a busy machine may bunch a few sends into a 429
    ) as client:
        delay = settings.get("start_at", 0.0) - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        session = await client.create_session()

        async def send(index: int) -> str | None:
            try:
                await client.send_message(session.session_uid, f"{settings['tag']}-{index}")
            except YourGPTError as error:
                return f"{type(error).__name__}: {error}"
            return None

        errors = await asyncio.gather(*(send(i) for i in range(settings["count"])))
        failed = [error for error in errors if error is not None]
        return {"sent": settings["count"] - len(failed), "failed": failed}


def worker_main(argv: list[str]) -> int:
    """Send `count` messages through a client paced by a `RedisRateLimit`; print a JSON summary.

    The one argument is a JSON object: redis_url, name, per_second, base_url, api_key,
    widget_uid, count, tag (messages are `<tag>-<i>`), and optionally start_at (a `time.time()`
    to wait for), on_redis_error, expected_clients and reconnect_interval.
    """
    settings = json.loads(argv[0])
    print(json.dumps(asyncio.run(_work(settings))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))

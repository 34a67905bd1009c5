"""A real nginx ``limit_req`` gateway in front of an upstream, for tests and benchmarks.

`NginxGateway` runs Debian's ``nginx`` on a free loopback port, in a temporary directory, as a
rate-limiting reverse proxy: ``limit_req`` at ``rate`` requests a second with ``burst`` (and
``nodelay``: excess requests are refused, not queued), refusing with 429 — a JSON body with
``Retry-After: 1`` (whole seconds, as gateways send it), or nginx's own bare HTML page with no
``Retry-After``. Everything accepted goes to the upstream. `require_nginx()` skips a test when
no binary is installed, but fails it under CI (``CI=true``), where these tests must run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Literal

from redis_fixtures import free_port

_READY_TIMEOUT = 10.0
_CANDIDATES = ("nginx", "/usr/sbin/nginx")

_CONFIG = """\
worker_processes 1;
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    limit_req_zone $server_name zone=api:1m rate={rate}r/s;
    limit_req_status 429;
    upstream backend {{
        server {upstream};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name gateway;
        location / {{
            limit_req zone=api burst={burst} nodelay;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
{throttled}
    }}
}}
"""

_RETRY_AFTER_ONE = """\
        error_page 429 @throttled;
        location @throttled {
            default_type application/json;
            add_header Retry-After 1 always;
            return 429 '{"type":"RXERROR","message":"Too Many Requests"}';
        }
"""


def find_nginx() -> str | None:
    """The nginx binary, or ``None`` if none is installed."""
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found is not None:
            return found
    return None


def require_nginx() -> str:
    """The nginx binary; skip the test without one, but fail it under CI."""
    import pytest

    binary = find_nginx()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                "nginx is not installed, and CI=true: the gateway tests must run in CI "
                "(.ci/run installs it with apt-get install nginx-light)"
            )
        pytest.skip("nginx is not installed; install it (apt-get install nginx-light) to run")
    return binary


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class NginxGateway:
    """nginx on 127.0.0.1, limiting what reaches ``upstream`` (``host:port``).

    Args:
        binary: The nginx executable.
        directory: Its working directory (a temporary one).
        upstream: Where accepted requests go, ``host:port``.
        rate: ``limit_req``'s rate, requests per second.
        burst: ``limit_req``'s burst.
        refusal: ``"retry-after"`` for a JSON 429 with ``Retry-After: 1``, ``"bare"`` for
            nginx's own HTML 429 page with no ``Retry-After``.
    """

    def __init__(
        self,
        binary: str,
        directory: Path,
        upstream: str,
        *,
        rate: int,
        burst: int,
        refusal: Literal["retry-after", "bare"] = "retry-after",
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        config = _CONFIG.format(
            dir=directory,
            rate=rate,
            burst=burst,
            upstream=upstream,
            port=self.port,
            throttled=_RETRY_AFTER_ONE if refusal == "retry-after" else "",
        )
        self.config = directory / "nginx.conf"
        self.config.write_text(config, encoding="utf-8")

    @property
    def url(self) -> str:
        """The gateway's base URL (the path is the upstream's)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start nginx; return once it accepts connections (or raise after 10 s)."""
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.directory), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.directory / "error.log"
                detail = log.read_text(encoding="utf-8") if log.exists() else ""
                self.stop()
                raise RuntimeError(f"nginx did not start on port {self.port}: {detail}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop nginx (SIGQUIT, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> NginxGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

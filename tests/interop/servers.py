"""The example server as a real subprocess serving streamable HTTP on a free loopback port."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.interop.clients import ROOT, clean_env

logger = logging.getLogger(__name__)

EXAMPLE_SERVER = ROOT / "tests" / "core" / "example_server.py"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
_BIND_ATTEMPTS = 3


def free_port() -> int:
    """A port the kernel says is free now. Someone may take it before the server binds: see `http_server`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_text(self, since: int = 0) -> str:
        with self.log.open("rb") as fh:
            fh.seek(since)
            return fh.read().decode(errors="replace")

    def audit_events(self, since: int = 0) -> list[dict[str, Any]]:
        """The server's audit events (JSON lines on stderr) written after byte offset `since`."""
        events = []
        for line in self.log_text(since).splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "method" in event and "outcome" in event:
                events.append(event)
        return events


@contextmanager
def http_server(workdir: Path, env: Mapping[str, str] | None = None) -> Iterator[HttpServer]:
    """Start `example_server.py --transport http --port <free>` and stop it afterwards.

    The port is picked free and the server is ready once *its own* log says uvicorn bound it and
    /healthz answers: if another process took the port in between, the bind fails, the server
    exits, and a new port is tried.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    settings = {"WARDEN_EXAMPLE_DRAIN_SECONDS": "2", "PYTHONUNBUFFERED": "1", **(env or {})}
    for attempt in range(1, _BIND_ATTEMPTS + 1):
        port = free_port()
        log = workdir / f"server-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, str(EXAMPLE_SERVER), "--transport", "http", "--port", str(port)],
                cwd=ROOT,
                env={**clean_env(), **settings},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        server = HttpServer(process, port, log)
        try:
            if _wait_ready(server):
                logger.info("example server pid %s on %s", process.pid, server.url)
                break
        except BaseException:
            _stop(process)
            raise
        _stop(process)
        if "address already in use" not in server.log_text().lower() or attempt == _BIND_ATTEMPTS:
            raise AssertionError(f"example server did not start on port {port}:\n{server.log_text()[-4000:]}")
        logger.info("port %s was taken before the server bound it; retrying", port)
    try:
        yield server
    finally:
        _stop(server.process)


def _wait_ready(server: HttpServer) -> bool:
    """True once the server bound its port and /healthz says ok; False if it exited first."""
    bound = f"running on http://127.0.0.1:{server.port} "
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if bound in server.log_text().lower() and _healthy(server.port):
            return True
        time.sleep(0.1)
    raise AssertionError(
        f"example server not ready within {START_TIMEOUT:g} s on port {server.port}:\n{server.log_text()[-4000:]}"
    )


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200 and json.loads(response.read()) == {"status": "ok"}
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the server drains gracefully), then SIGKILL if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            logger.warning("example server pid %s ignored SIGTERM; killing it", process.pid)
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

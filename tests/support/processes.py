"""Run a server as a real process over HTTP on a free loopback port, the way `--transport http` runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpProcess:
    proc: subprocess.Popen[bytes]
    base: str
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextmanager
def http_process(args: list[str], env: dict[str, str], tmp: Path, port: int | None = None) -> Iterator[HttpProcess]:
    """Start `python <args> --transport http --port N`, wait for /healthz, stop it with SIGTERM afterwards."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")} | env
    stderr_path = tmp / f"server-{port}.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, *args, "--transport", "http", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=full_env,
            cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {stderr_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    try:
        yield HttpProcess(proc, base, stderr_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

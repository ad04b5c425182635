"""Serve a Warden server over real streamable HTTP on a free port, exactly as `--transport http` does."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from warden_core.http import uvicorn_config
from warden_core.server import WardenServer


@contextmanager
def serve_http(server: WardenServer, host: str = "127.0.0.1") -> Iterator[str]:
    """Yield the base URL (`http://127.0.0.1:PORT`) while the server runs in a background thread."""
    config = uvicorn_config(server)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    running = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(running.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not running.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("HTTP server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(15)
        sock.close()

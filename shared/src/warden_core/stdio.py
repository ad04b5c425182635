"""stdio transport: JSON-RPC on stdin/stdout for desktop clients, with a graceful stop.

On SIGTERM or SIGINT the server stops taking new calls, lets the ones in flight finish (up to
`drain_seconds`), closes its backends and exits 0. On EOF it stops the same way.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import BinaryIO

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.lowlevel import EventLoopToken
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.stdio import stdio_server

from warden_core.server import WardenServer

logger = logging.getLogger(__name__)


class _StdinLines:
    """stdin as async text lines, read by a daemon thread.

    The SDK's reader blocks in a worker thread that shutdown (and interpreter exit) must wait for,
    so a silent client would keep a stopping server alive. A daemon thread does not hold the
    process: SIGTERM ends it even while the client sends nothing.
    """

    def __init__(self, fd: int) -> None:
        # A reader of our own on a duplicate descriptor: interpreter shutdown flushes `sys.stdin`, and
        # would abort on its lock if the daemon thread were blocked inside it.
        self._stream: BinaryIO = os.fdopen(os.dup(fd), "rb")
        self._lines: MemoryObjectReceiveStream[bytes] | None = None

    def __aiter__(self) -> _StdinLines:
        return self

    async def __anext__(self) -> str:
        if self._lines is None:
            send, self._lines = anyio.create_memory_object_stream[bytes](1)
            token = anyio.lowlevel.current_token()
            threading.Thread(target=self._pump, args=(send, token), daemon=True, name="warden-stdin").start()
        try:
            line = await self._lines.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
        return line.decode("utf-8", errors="replace")

    def _pump(self, send: MemoryObjectSendStream[bytes], token: EventLoopToken) -> None:
        try:
            for line in iter(self._stream.readline, b""):
                anyio.from_thread.run(send.send, line, token=token)
            anyio.from_thread.run_sync(send.close, token=token)
        except (RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the server stopped first


async def serve_stdio(server: WardenServer) -> None:
    server.transport = "stdio"
    lowlevel = server.mcp._lowlevel_server  # what MCPServer.run_stdio_async drives, with our stdin reader
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signal, server, tasks.cancel_scope)
            async with stdio_server(stdin=_StdinLines(sys.stdin.fileno())) as (read, write):  # type: ignore[arg-type]
                await lowlevel.run(read, write, lowlevel.create_initialization_options())
            tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await server.aclose()


async def _stop_on_signal(server: WardenServer, scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            logger.info("%s received %s: draining", server.name, signal.Signals(signum).name)
            server.draining = True
            await drain(server)
            scope.cancel()
            return


async def drain(server: WardenServer) -> None:
    """Wait until no request is in flight, or the drain deadline passes."""
    with anyio.move_on_after(server.settings.drain_seconds) as deadline:
        # Calls finish on many tasks; polling the counter during shutdown is simpler than signalling.
        while server.inflight:  # noqa: ASYNC110
            await anyio.sleep(0.05)
    if deadline.cancelled_caught:
        logger.warning("%s: %d requests still in flight at the drain deadline", server.name, server.inflight)

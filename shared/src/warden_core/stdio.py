"""stdio transport: JSON-RPC on stdin/stdout for desktop clients, with a graceful stop.

On SIGTERM or SIGINT the server stops taking new calls, lets the ones in flight finish (up to
`drain_seconds`), closes its backends and exits 0. On EOF it stops the same way.
"""

from __future__ import annotations

import json
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
from mcp import types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from warden_core.server import WardenServer

logger = logging.getLogger(__name__)


class _StdinLines:
    """stdin as async text lines, read by a daemon thread, with malformed messages answered here.

    Two gaps in the SDK's own reader are closed:
    - it reads in a worker thread that shutdown (and interpreter exit) must wait for, so a silent
      client would keep a stopping server alive; a daemon thread does not hold the process;
    - it drops lines that are not valid JSON-RPC without a word, so a request with, say, a list for
      `params` is never answered. JSON-RPC wants a Parse error (id null) or an Invalid Request error
      (with the request's id), and every request gets exactly one answer.
    """

    def __init__(self, fd: int) -> None:
        # A reader of our own on a duplicate descriptor: interpreter shutdown flushes `sys.stdin`, and
        # would abort on its lock if the daemon thread were blocked inside it.
        self._stream: BinaryIO = os.fdopen(os.dup(fd), "rb")
        self._lines: MemoryObjectReceiveStream[bytes] | None = None
        self._replies: MemoryObjectSendStream[SessionMessage] | None = None
        self._can_reply = anyio.Event()

    def reply_through(self, replies: MemoryObjectSendStream[SessionMessage]) -> None:
        self._replies = replies
        self._can_reply.set()

    def __aiter__(self) -> _StdinLines:
        return self

    async def __anext__(self) -> str:
        if self._lines is None:
            send, self._lines = anyio.create_memory_object_stream[bytes](1)
            token = anyio.lowlevel.current_token()
            threading.Thread(target=self._pump, args=(send, token), daemon=True, name="warden-stdin").start()
        while True:
            try:
                line = await self._lines.receive()
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
            error = _malformed(line)
            if error is None:
                return line.decode("utf-8", errors="replace")
            if error.id is not None or error.error.code == types.PARSE_ERROR:
                await self._can_reply.wait()
                assert self._replies is not None
                await self._replies.send(SessionMessage(error))

    def _pump(self, send: MemoryObjectSendStream[bytes], token: EventLoopToken) -> None:
        try:
            for line in iter(self._stream.readline, b""):
                if line.strip():
                    anyio.from_thread.run(send.send, line, token=token)
            anyio.from_thread.run_sync(send.close, token=token)
        except (RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the server stopped first


def _malformed(line: bytes) -> types.JSONRPCError | None:
    """The error answer a line deserves, or None when it is a valid JSON-RPC message."""
    try:
        types.jsonrpc_message_adapter.validate_json(line, by_name=False)
        return None
    except ValueError:
        pass
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return types.JSONRPCError(
            jsonrpc="2.0", id=None, error=types.ErrorData(code=types.PARSE_ERROR, message="Parse error")
        )
    raw_id = message.get("id") if isinstance(message, dict) else None
    request_id = raw_id if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) else None
    return types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=types.INVALID_REQUEST, message="Invalid Request")
    )


async def serve_stdio(server: WardenServer) -> None:
    server.transport = "stdio"
    lowlevel = server.mcp._lowlevel_server  # what MCPServer.run_stdio_async drives, with our stdin reader
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signal, server, tasks.cancel_scope)
            lines = _StdinLines(sys.stdin.fileno())
            async with stdio_server(stdin=lines) as (read, write):  # type: ignore[arg-type]
                lines.reply_through(write)
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

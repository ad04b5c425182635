"""stdio transport: JSON-RPC on stdin/stdout for desktop clients, with a graceful stop.

On SIGTERM or SIGINT the server stops taking new calls, lets the ones in flight finish (calls still
running near `drain_seconds` are stopped with a clean error), closes its backends and exits 0.
On EOF it stops the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import queue
import select
import signal
import sys
import threading
from typing import Any, BinaryIO

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.lowlevel import EventLoopToken
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from warden_core.server import WardenServer, drain_plan

logger = logging.getLogger(__name__)

_FLUSH_GRACE = 5.0
"""After the drain, how long the orderly end of input may take before the server is cancelled."""


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
        self._feed: MemoryObjectSendStream[bytes] | None = None
        self._replies: MemoryObjectSendStream[SessionMessage] | None = None
        self._can_reply = anyio.Event()
        self.requests = 0
        """Requests handed to the server so far; each must get exactly one answer."""

    def idle(self) -> bool:
        """Nothing the client sent is waiting to be read: no queued line, no unread bytes on stdin."""
        if self._lines is not None and self._lines.statistics().current_buffer_used:
            return False
        readable, _, _ = select.select([self._stream], [], [], 0)
        return not readable

    def stop(self) -> None:
        """End the input as EOF would: the SDK then finishes the way it does when the client hangs up."""
        if self._feed is not None:
            self._feed.close()

    def reply_through(self, replies: MemoryObjectSendStream[SessionMessage]) -> None:
        self._replies = replies
        self._can_reply.set()

    def __aiter__(self) -> _StdinLines:
        return self

    async def __anext__(self) -> str:
        if self._lines is None:
            self._feed, self._lines = anyio.create_memory_object_stream[bytes](1)
            token = anyio.lowlevel.current_token()
            threading.Thread(target=self._pump, args=(self._feed, token), daemon=True, name="warden-stdin").start()
        while True:
            try:
                line = await self._lines.receive()
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
            message, error = _parse(line)
            if error is None:
                if isinstance(message, types.JSONRPCRequest):
                    self.requests += 1
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


class _StdoutLines:
    """stdout for the SDK's writer: each message is queued for a daemon thread that writes it.

    The SDK's own writer makes the event loop wait for two thread hops per message (write, then
    flush); here the loop only enqueues, and the thread writes whatever has queued up in one go.
    While serving, fd 1 points at stderr, as the SDK arranges when it owns stdout: a stray print
    from a handler or a library lands in the log, never on the wire.
    """

    def __init__(self, fd: int) -> None:
        sys.stdout.flush()
        self._fd = fd
        self._wire = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
        os.dup2(2, fd)
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_queued, daemon=True, name="warden-stdout")
        self._thread.start()

    async def write(self, text: str) -> None:
        self._queue.put(text.encode())

    async def flush(self) -> None:
        """Nothing to do: the writer thread writes each batch out as soon as it takes it."""

    def _write_queued(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while batch[-1] is not None:
                    batch.append(self._queue.get_nowait())
            data = memoryview(b"".join(item for item in batch if item is not None))
            try:
                while data:
                    data = data[os.write(self._wire, data) :]
            except OSError:
                return  # the client has gone: nothing more can reach it
            if batch[-1] is None:
                return

    def close(self, timeout: float) -> None:
        """Write out what is queued (for at most `timeout` seconds), then give fd 1 back its pipe."""
        self._queue.put(None)
        self._thread.join(timeout)
        os.dup2(self._wire, self._fd)
        if not self._thread.is_alive():  # a writer stuck on a full pipe keeps its descriptor
            os.close(self._wire)


def _parse(line: bytes) -> tuple[types.JSONRPCMessage | None, types.JSONRPCError | None]:
    """The message a line carries, or the error answer it deserves."""
    try:
        return types.jsonrpc_message_adapter.validate_json(line, by_name=False), None
    except ValueError:
        pass
    try:
        raw = json.loads(line)
    except (ValueError, RecursionError):
        error = types.ErrorData(code=types.PARSE_ERROR, message="Parse error")
        return None, types.JSONRPCError(jsonrpc="2.0", id=None, error=error)
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    request_id = raw_id if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) else None
    error = types.ErrorData(code=types.INVALID_REQUEST, message="Invalid Request")
    return None, types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)


class _CountedWrites:
    """The server's write stream, counting the answers that have actually gone out."""

    def __init__(self, stream: MemoryObjectSendStream[SessionMessage]) -> None:
        self._stream = stream
        self.answers = 0

    async def send(self, item: SessionMessage) -> None:
        await self._stream.send(item)
        if isinstance(item.message, types.JSONRPCResponse | types.JSONRPCError):
            self.answers += 1

    async def aclose(self) -> None:
        await self._stream.aclose()

    def close(self) -> None:
        self._stream.close()

    async def __aenter__(self) -> _CountedWrites:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


async def serve_stdio(server: WardenServer) -> None:
    server.transport = "stdio"
    lowlevel = server.mcp._lowlevel_server  # what MCPServer.run_stdio_async drives, with our stdin reader
    try:
        async with anyio.create_task_group() as tasks:
            lines = _StdinLines(sys.stdin.fileno())
            out = _StdoutLines(sys.stdout.fileno())
            try:
                async with stdio_server(stdin=lines, stdout=out) as (read, write):  # type: ignore[arg-type]
                    lines.reply_through(write)
                    writes = _CountedWrites(write)
                    tasks.start_soon(_stop_on_signal, server, lines, writes, tasks.cancel_scope)
                    await lowlevel.run(read, writes, lowlevel.create_initialization_options())
            finally:
                out.close(_FLUSH_GRACE)
            tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await server.aclose()


async def _stop_on_signal(
    server: WardenServer, lines: _StdinLines, writes: _CountedWrites, scope: anyio.CancelScope
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            logger.info("%s received %s: draining", server.name, signal.Signals(signum).name)
            server.draining = True
            await drain(server, lines, writes)
            # Ending the input (rather than cancelling) lets every answer already made reach stdout.
            lines.stop()
            await anyio.sleep(_FLUSH_GRACE)
            scope.cancel()  # only if the orderly end did not finish in time
            return


async def drain(server: WardenServer, lines: _StdinLines, writes: _CountedWrites) -> None:
    """Wait until every request sent so far has its answer written (new calls are refused), or the deadline.

    A request the client wrote before the signal but the server had not read yet still gets its answer
    (a refusal, if it is a new call), so nothing the client sent goes unanswered. Calls still running
    near the deadline are stopped with a clean error, and their answers get the rest of the drain.
    """
    stop_at, end = drain_plan(server.settings.drain_seconds)
    if await _answered(lines, writes, stop_at):
        return
    stopped = server.abort_calls()
    logger.warning("%s: stopped %d calls still running at the drain deadline", server.name, stopped)
    if not await _answered(lines, writes, end - stop_at):
        logger.warning("%s: %d requests still in flight at the drain deadline", server.name, server.inflight)


async def _answered(lines: _StdinLines, writes: _CountedWrites, seconds: float) -> bool:
    with anyio.move_on_after(seconds):
        # Answers are written by many tasks; polling during shutdown is simpler than signalling.
        while writes.answers < lines.requests or not lines.idle():  # noqa: ASYNC110
            await anyio.sleep(0.05)
        return True
    return False

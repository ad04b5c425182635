"""A fault-injecting TCP proxy for tests: it sits between a server and its backend on 127.0.0.1.

    with FaultProxy(("127.0.0.1", backend_port)) as proxy:
        ... point the server at proxy.port (or proxy.url("http")) ...
        proxy.set("blackhole")        # switchable at any time, from any thread
        proxy.set("latency", seconds=0.5)
        proxy.set("pass")

Modes (each applies to new connections and to the ones already open):

- `pass`: relay bytes both ways.
- `latency`: delay every chunk, both ways, by `seconds`.
- `blackhole`: accept, never answer. New connections are never connected upstream; bytes on open
  connections are swallowed in both directions. A connection that lost bytes stays dead after the
  mode changes back (its stream is broken, as a real one would be after a partition), so only
  connections opened afterwards work again.
- `reset`: every connection, open or new, is closed with a TCP RST.
- `cut`: relay the request, then close the connection (FIN) after `after` bytes of the answer:
  a close in the middle of a response.
- `refuse`: stop listening (connection refused) and reset open connections; listening resumes on
  the same port when the mode changes.
- `hold`: bytes wait in the proxy, both ways, until the mode changes; then they flow on, in order.
  Nothing is lost: it holds calls in flight for as long as a test needs, then lets them finish.
- `respond` (HTTP backends only): answer every request with a canned response (`status`,
  `headers`, `body`) without passing it on: a 429 or 5xx storm. Each answered request is recorded
  in `answered` with its time, so a test can count attempts and measure the pauses between them.

Everything runs on an asyncio loop in a daemon thread; counters (`accepted`, `open`) are for
assertions. No port is fixed: the proxy binds port 0 unless told to reuse its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["pass", "latency", "blackhole", "reset", "cut", "refuse", "hold", "respond"]
MODES: tuple[Mode, ...] = ("pass", "latency", "blackhole", "reset", "cut", "refuse", "hold", "respond")
_CHUNK = 65536
_REASONS = {200: "OK", 403: "Forbidden", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}
_REASONS |= {503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class Answered:
    """A request the proxy answered itself in `respond` mode."""

    at: float  # time.monotonic()
    request_line: str


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client side, the upstream side (if opened) and its state."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    dead: bool = False  # bytes were swallowed: this stream can never be whole again
    answered: int = 0  # bytes sent back to the client so far
    pending: bytes = b""  # request bytes not yet answered in `respond` mode
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a FIN."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None and not writer.transport.is_closing():
        writer.close()


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], *, name: str = "backend") -> None:
        self.upstream = upstream
        self.name = name
        self.mode: Mode = "pass"
        self.seconds = 0.0
        self.after = 0
        self.response = b""
        self.accepted = 0
        self.answered: list[Answered] = []
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._port = 0
        self._released: asyncio.Event | None = None  # set whenever the mode is not `hold`

    # --- Control (any thread). -------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._port, "start the proxy first"
        return self._port

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def open(self) -> int:
        """Client connections currently open through the proxy."""
        return len(self._links)

    def set(self, mode: Mode, *, seconds: float = 0.0, after: int = 0) -> None:
        """Switch the fault mode now; returns once open connections have been dealt with."""
        assert mode in MODES, mode
        self._run(self._switch(mode, seconds, after))

    def respond(self, status: int, headers: dict[str, str] | None = None, body: bytes | str = b"") -> None:
        """Answer every HTTP request with this response from now on (mode `respond`)."""
        data = body.encode() if isinstance(body, str) else body
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Length: {len(data)}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.response = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        self.answered = []
        self.set("respond")

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._listen())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"faultproxy-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None, "start the proxy first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # --- The loop. --------------------------------------------------------------------------------
    async def _wait_while_held(self) -> None:
        if self._released is None:
            self._released = asyncio.Event()
            self._released.set()
        await self._released.wait()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self._port, reuse_address=True, backlog=512
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def _switch(self, mode: Mode, seconds: float, after: int) -> None:
        was = self.mode
        self.mode, self.seconds, self.after = mode, seconds, after
        if self._released is None:
            self._released = asyncio.Event()
        if mode == "hold":
            self._released.clear()
        else:
            self._released.set()
        if mode == "cut":
            for link in self._links:
                link.answered = 0  # `after` counts from now on every connection
        if mode in ("reset", "refuse"):
            for link in list(self._links):
                self._drop(link, rst=True)
        if mode == "refuse" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if was == "refuse" and mode != "refuse" and self._server is None:
            await self._listen()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._drop(link, rst=True)
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _drop(self, link: _Link, *, rst: bool) -> None:
        for task in link.tasks:
            task.cancel()
        if rst:
            _rst(link.client)
            _rst(link.upstream)
        else:
            _close(link.client)
            _close(link.upstream)
        self._links.discard(link)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(client=writer)
        self._links.add(link)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.mode in ("reset", "refuse"):
            self._drop(link, rst=True)
            return
        try:
            if self.mode == "blackhole":
                link.dead = True  # never connected upstream: it stays a hole whatever comes next
                await self._swallow(reader)
                return
            # In `respond` mode the upstream is opened only if the mode changes while this connection lives.
            if self.mode != "respond" and not await self._connect(link):
                return
            await self._upward(link, reader)
            if link.tasks:
                await asyncio.wait(link.tasks)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            if link in self._links:
                self._drop(link, rst=False)

    async def _connect(self, link: _Link) -> bool:
        try:
            up_reader, link.upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._drop(link, rst=True)  # upstream down: the client sees its connection reset
            return False
        link.tasks.append(asyncio.ensure_future(self._downward(link, up_reader)))
        return True

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        while await reader.read(_CHUNK):
            pass

    async def _upward(self, link: _Link, reader: asyncio.StreamReader) -> None:
        """Client to upstream, applying the mode to each chunk."""
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                if link.upstream is not None and link.upstream.can_write_eof() and not link.upstream.is_closing():
                    with contextlib.suppress(OSError):
                        link.upstream.write_eof()  # pass the half-close on
                return
            mode = "blackhole" if link.dead else self.mode
            if mode == "blackhole":
                link.dead = True
                continue
            if mode == "respond":
                await self._answer(link, data)
                continue
            if link.upstream is None and not await self._connect(link):
                return
            assert link.upstream is not None
            if mode == "latency":
                await asyncio.sleep(self.seconds)
            await self._wait_while_held()
            link.upstream.write(data)
            await link.upstream.drain()

    async def _downward(self, link: _Link, reader: asyncio.StreamReader) -> None:
        """Upstream to client, applying the mode to each chunk; ends the link when either side ends."""
        writer = link.client
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    return
                mode = "blackhole" if link.dead else self.mode
                if mode == "blackhole":
                    link.dead = True
                    continue
                if mode == "latency":
                    await asyncio.sleep(self.seconds)
                await self._wait_while_held()
                if mode == "cut":
                    room = max(0, self.after - link.answered)
                    if len(data) >= room:
                        writer.write(data[:room])
                        with contextlib.suppress(OSError):
                            await writer.drain()
                        return
                writer.write(data)
                link.answered += len(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self._drop(link, rst=False)

    async def _answer(self, link: _Link, data: bytes) -> None:
        """Answer each complete HTTP request in the client's stream with the canned response."""
        link.pending += data
        while True:
            end = link.pending.find(b"\r\n\r\n")
            if end < 0:
                return
            head = link.pending[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            if len(link.pending) < end + 4 + length:
                return
            link.pending = link.pending[end + 4 + length :]
            self.answered.append(Answered(time.monotonic(), head.split("\r\n", 1)[0]))
            link.client.write(self.response)
            await link.client.drain()


@contextlib.contextmanager
def proxy_to(host: str, port: int, *, name: str = "backend") -> Iterator[FaultProxy]:
    """A running proxy in front of `host:port`, stopped afterwards."""
    with FaultProxy((host, port), name=name) as proxy:
        yield proxy

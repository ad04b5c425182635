"""A TCP proxy in front of PostgreSQL that counts the round trips its clients make.

    with RoundTrips(dsn) as proxy:
        ... connect to proxy.dsn (same user, database and options, no TLS) ...
        proxy.reset(); <one call>; proxy.count     # round trips since reset

A round trip is a message after which the client waits for the server: a simple Query ('Q'), a Sync ('S')
that ends an extended-protocol batch, or a Flush ('H'), which asyncpg sends to bind a portal and to fetch from
it. Only the client-to-server stream is parsed (the type byte and length of each message after start-up);
bytes pass unchanged both ways. The upstream may be TCP or a unix socket (the embedded server's).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

WAITS = frozenset(b"QSH")


class RoundTrips:
    """Counts round trips from every client connection (see the module docstring)."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        query = dict(parse_qsl(parts.query))
        self._socket_dir = query.pop("host", None) if (query.get("host") or "").startswith("/") else None
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._port_number = parts.port or 5432
        self._dsn, self._query = parts, query
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._count = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def dsn(self) -> str:
        """The same DSN, through the proxy, without TLS (the proxy reads the protocol)."""
        netloc = self._dsn.netloc.rsplit("@", 1)
        auth = netloc[0] + "@" if len(netloc) == 2 else ""
        query = urlencode({**self._query, "sslmode": "disable"})
        return urlunsplit(self._dsn._replace(netloc=f"{auth}127.0.0.1:{self.port}", query=query))

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def reset(self) -> None:
        with self._lock:
            self._count = 0

    def __enter__(self) -> RoundTrips:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="pg-round-trips", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in relays:
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop.close()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._socket_dir:
            path = f"{self._socket_dir}/.s.PGSQL.{self._port_number}"
            return await asyncio.open_unix_connection(path)
        return await asyncio.open_connection(*self._upstream)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await self._open_upstream()
        with contextlib.suppress(OSError):
            sock = client_writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        back = asyncio.ensure_future(self._pipe(upstream_reader, client_writer))
        try:
            await self._client_to_server(client_reader, upstream_writer)
        finally:
            back.cancel()
            for writer in (upstream_writer, client_writer):
                writer.close()

    async def _client_to_server(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            # Start-up message: length, then its body; no type byte.
            head = await reader.readexactly(4)
            writer.write(head + await reader.readexactly(struct.unpack("!i", head)[0] - 4))
            while True:
                head = await reader.readexactly(5)
                body = await reader.readexactly(struct.unpack("!i", head[1:])[0] - 4)
                if head[0] in WAITS:
                    with self._lock:
                        self._count += 1
                writer.write(head + body)
                await writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

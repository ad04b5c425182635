"""Raw MCP clients for the benchmark: JSON-RPC lines over a pipe, and POSTs over loopback HTTP.

Raw rather than the SDK's client, so the figures measure the servers and not a client's own
machinery: a stdio call is one line written and one line read, an HTTP call is one POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import h11
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test support code, shared with the tests

from tests.support.processes import free_port  # noqa: E402

PROTOCOL = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": PROTOCOL, "io.modelcontextprotocol/clientCapabilities": {}}


def rpc(id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A 2026-07-28 request: each one carries its own protocol envelope, no handshake needed."""
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": {**(params or {}), "_meta": META}}


def call(id: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return rpc(id, "tools/call", {"name": tool, "arguments": arguments})


def check(answer: dict[str, Any]) -> dict[str, Any]:
    """The result of a successful answer; anything else stops the benchmark (it would measure errors)."""
    result = answer.get("result")
    if result is None or result.get("isError"):
        raise RuntimeError(f"the server answered with an error: {json.dumps(answer)[:500]}")
    return result


@dataclass(frozen=True)
class Command:
    """How to start one server: its arguments after `python`, and its environment."""

    label: str
    args: tuple[str, ...]
    env: dict[str, str]

    def popen(self, extra: tuple[str, ...] = (), **kwargs: Any) -> subprocess.Popen[bytes]:
        # Nothing from the caller's environment changes what is measured (OTEL_* would turn tracing on).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "BENCH_", "OTEL_"))} | self.env
        return subprocess.Popen([sys.executable, *self.args, *extra], env=env, cwd=ROOT, **kwargs)


class StdioServer:
    """A server process spoken to over its stdin and stdout, one request at a time."""

    def __init__(self, command: Command, stderr: IO[bytes]) -> None:
        self.started = time.perf_counter()
        self.proc = command.popen(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self.label = command.label
        self._ids = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._ids += 1
        return self.send(rpc(self._ids, method, params))

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        self._ids += 1
        return check(self.send(call(self._ids, tool, arguments)))

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()
        while True:
            line = stdout.readline()
            if not line:
                raise RuntimeError(f"{self.label} closed stdout (exit status {self.proc.wait(5)})")
            answer: dict[str, Any] = json.loads(line)
            if answer.get("id") == message["id"]:
                return answer  # anything else is a notification (progress, logging)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass
class HttpServer:
    proc: subprocess.Popen[bytes]
    url: str
    headers: dict[str, str]


@contextmanager
def http_server(command: Command, stderr: IO[bytes], api_key: str | None = None) -> Iterator[HttpServer]:
    """Start `command` on a free loopback port in HTTP mode; stop it with SIGTERM afterwards."""
    port = free_port()
    extra = ("--transport", "http", "--port", str(port))
    proc = command.popen(extra, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/mcp", timeout=1)  # any HTTP answer (a 401, a 406) means it listens
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{command.label} did not start over HTTP (exit status {proc.poll()})") from None
            time.sleep(0.05)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL,
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    try:
        yield HttpServer(proc, f"{base}/mcp", headers)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def answer_of(content_type: bytes, body: bytes) -> dict[str, Any]:
    """The JSON-RPC answer in a response body, whether sent as JSON or as one server-sent event."""
    if content_type.startswith(b"text/event-stream"):
        body = next(line[5:] for line in reversed(body.splitlines()) if line.startswith(b"data:"))
    answer: dict[str, Any] = json.loads(body)
    return answer


class Connection:
    """One keep-alive HTTP/1.1 connection, framed by h11: lean, so the server is what gets measured.

    (httpx spent well over half a core per 350 calls a second here, and most of a core at 32
    concurrent connections: the load generator, not the server, set the pace.)
    """

    IDLE_SECONDS = 2.0
    """Reconnect after this long unused: uvicorn closes keep-alive connections idle for 5 s."""

    def __init__(self, server: HttpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server, self._reader, self._writer = server, reader, writer
        self._h11 = h11.Connection(h11.CLIENT)
        self._used = time.monotonic()
        host = server.url.split("/")[2].encode()
        self._headers = [(b"host", host)] + [(k.lower().encode(), v.encode()) for k, v in server.headers.items()]

    @classmethod
    async def open(cls, server: HttpServer) -> Connection:
        host, port = server.url.split("/")[2].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(server, reader, writer)

    async def call(self, id: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if time.monotonic() - self._used > self.IDLE_SECONDS:
            await self.close()
            fresh = await Connection.open(self.server)
            self._reader, self._writer, self._h11 = fresh._reader, fresh._writer, fresh._h11
        body = json.dumps(call(id, tool, arguments)).encode()
        headers = [*self._headers, (b"mcp-method", b"tools/call"), (b"mcp-name", tool.encode())]
        headers.append((b"content-length", str(len(body)).encode()))
        conn = self._h11
        self._writer.write(
            conn.send(h11.Request(method="POST", target="/mcp", headers=headers))
            + conn.send(h11.Data(data=body))
            + conn.send(h11.EndOfMessage())
        )
        status, content_type, chunks = 0, b"", []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self._reader.read(65536))
            elif isinstance(event, h11.Response):
                status, content_type = event.status_code, dict(event.headers).get(b"content-type", b"")
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise RuntimeError(f"{self.server.url} closed the connection")
        conn.start_next_cycle()
        self._used = time.monotonic()
        body = b"".join(chunks)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
        return check(answer_of(content_type, body))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


async def load(server: HttpServer, tool: str, arguments: dict[str, Any], clients: int, seconds: float) -> float:
    """Calls per second that `clients` concurrent callers complete in `seconds` (after a short warm-up)."""
    warmup = min(1.0, seconds / 3)
    counted = 0
    connections = [await Connection.open(server) for _ in range(clients)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from, until = start + warmup, start + warmup + seconds

    async def caller(number: int, connection: Connection) -> None:
        nonlocal counted
        id = number * 1_000_000
        while loop.time() < until:
            id += 1
            await connection.call(id, tool, arguments)
            if measure_from <= loop.time() < until:  # completed inside the measured window
                counted += 1

    try:
        await asyncio.gather(*(caller(n, c) for n, c in enumerate(connections)))
    finally:
        for connection in connections:
            await connection.close()
    return counted / seconds

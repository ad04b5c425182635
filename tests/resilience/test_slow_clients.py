"""Slow clients on HTTP (R-08): sockets that trickle their headers, trickle a declared body, or say
nothing at all are cut off by the header and body deadlines, while a normal client keeps getting
answers; afterwards the server's file descriptors are back to where they were."""

from __future__ import annotations

import asyncio
import json
import time

import psutil
import pytest

from tests.resilience.mcp_http import Answer, call, list_tools, rpc, wait_until
from tests.resilience.targets import Target

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
TRICKLE = 0.25  # seconds between bytes: each byte arrives well inside any per-read timeout
CUT_WITHIN = 10.0  # generous: "cut off", not "cut off at exactly 1 s"


async def trickle(port: int, head: bytes, body: bytes = b"") -> tuple[str, float, bytes]:
    """Send `head` at once if `body` is given, else one byte at a time; then trickle `body`.

    Returns how the server ended it ("closed", "reset", or "answered" with the first bytes) and when.
    """
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = b""
    try:
        if body:
            writer.write(head)
            await writer.drain()
        for byte in body or head:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(256), TRICKLE)
            except TimeoutError:
                continue
            if not data:
                return "closed", time.monotonic() - started, answer
            answer += data
            rest = await asyncio.wait_for(reader.read(), CUT_WITHIN)  # the server must close after answering
            return "answered", time.monotonic() - started, answer + rest
        return "never cut", time.monotonic() - started, answer
    except (ConnectionResetError, BrokenPipeError):
        return "reset", time.monotonic() - started, answer
    finally:
        writer.close()


async def silent(port: int) -> tuple[str, float, bytes]:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        data = await asyncio.wait_for(reader.read(256), CUT_WITHIN)
        return ("closed" if not data else "answered"), time.monotonic() - started, data
    except ConnectionResetError:
        return "reset", time.monotonic() - started, b""
    finally:
        writer.close()


async def _calls(base: str, target: Target, count: int) -> list[Answer]:
    calls = (asyncio.to_thread(call, base, target.tool, target.arguments, id=i) for i in range(count))
    return list(await asyncio.gather(*calls))


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_trickling_and_silent_sockets_are_cut_off_while_a_normal_client_is_served(target: Target) -> None:
    with target.serve(header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT) as server:
        port = int(server.base.rsplit(":", 1)[1])
        process = psutil.Process(server.proc.pid)
        assert target.tool in list_tools(server.base)
        # Warm up the way the normal client will call, so its pooled backend connections are in the baseline.
        asyncio.run(_calls(server.base, target, 5))
        baseline = process.num_fds()

        message = json.dumps(rpc("tools/list")).encode()
        headers = (
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
            f"Mcp-Method: tools/list\r\nContent-Length: {len(message)}\r\n\r\n"
        ).encode()
        slow_headers = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 400

        async def attack() -> tuple[list[tuple[str, float, bytes]], ...]:
            header_tricklers = [trickle(port, slow_headers) for _ in range(100)]
            body_tricklers = [trickle(port, headers, message) for _ in range(30)]
            idle = [silent(port) for _ in range(20)]

            async def normal_client() -> list[Answer]:
                await asyncio.sleep(0.5)  # once the slow sockets are all open
                return await _calls(server.base, target, 5)

            results = await asyncio.gather(
                asyncio.gather(*header_tricklers),
                asyncio.gather(*body_tricklers),
                asyncio.gather(*idle),
                normal_client(),
            )
            return tuple(results)  # type: ignore[arg-type]

        header_results, body_results, idle_results, normal_results = asyncio.run(attack())

        for how, elapsed, _ in header_results + idle_results:
            assert how in ("closed", "reset"), how
            assert elapsed < HEADER_TIMEOUT + CUT_WITHIN
        for how, elapsed, answer in body_results:
            assert how == "answered" and answer.startswith(b"HTTP/1.1 408"), (how, answer[:60])
            assert elapsed < BODY_TIMEOUT + CUT_WITHIN
        assert all(answer.ok for answer in normal_results), [a.text for a in normal_results]

        # The cut-off sockets are gone from the server, not merely forgotten by the client.
        wait_until(lambda: process.num_fds() <= baseline + 2, timeout=10, what="file descriptors back to baseline")
        assert call(server.base, target.tool, target.arguments).ok


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_a_keep_alive_connection_that_trickles_its_next_request_is_cut_off(target: Target) -> None:
    with target.serve(header_timeout=HEADER_TIMEOUT) as server:
        port = int(server.base.rsplit(":", 1)[1])
        message = json.dumps(rpc("tools/list")).encode()
        request = (
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
            f"Mcp-Method: tools/list\r\nContent-Length: {len(message)}\r\n\r\n"
        ).encode() + message

        async def first_fast_then_slow() -> tuple[bytes, str]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            first = await asyncio.wait_for(reader.read(65536), CUT_WITHIN)
            started = time.monotonic()
            try:
                for byte in b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    try:
                        if not await asyncio.wait_for(reader.read(256), TRICKLE):
                            return first, "closed"
                    except TimeoutError:
                        continue
                    if time.monotonic() - started > CUT_WITHIN:
                        break
            except (ConnectionResetError, BrokenPipeError):
                return first, "reset"
            finally:
                writer.close()
            return first, "never cut"

        first, how = asyncio.run(first_fast_then_slow())
        assert first.startswith(b"HTTP/1.1 200"), first[:60]
        assert how in ("closed", "reset")


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_a_declared_body_that_never_comes_is_cut_off_whatever_the_method(target: Target) -> None:
    """GET, PUT and DELETE /mcp too: the body deadline must not apply to POST alone."""
    with target.serve(header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT) as server:
        port = int(server.base.rsplit(":", 1)[1])

        async def stall(method: str) -> tuple[str, bytes]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 100\r\n\r\n".encode())
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(), BODY_TIMEOUT + CUT_WITHIN)
                return "closed", answer
            except TimeoutError:
                return "still open", b""
            finally:
                writer.close()

        async def all_methods() -> list[tuple[str, bytes]]:
            return list(await asyncio.gather(*(stall(method) for method in ("GET", "PUT", "DELETE", "POST"))))

        for how, answer in asyncio.run(all_methods()):
            assert how == "closed" and answer.startswith(b"HTTP/1.1 408"), (how, answer[:60])

"""stdio transport: JSON-RPC on stdin/stdout for desktop clients, with a graceful stop.

On SIGTERM or SIGINT the server stops taking new calls, lets the ones in flight finish (up to
`drain_seconds`), closes its backends and exits 0. On EOF it stops the same way.
"""

from __future__ import annotations

import logging
import signal

import anyio

from warden_core.server import WardenServer

logger = logging.getLogger(__name__)


async def serve_stdio(server: WardenServer) -> None:
    server.transport = "stdio"
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signal, server, tasks.cancel_scope)
            await server.mcp.run_stdio_async()
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

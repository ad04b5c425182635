"""In-memory MCP clients in either protocol era, against exactly the server production builds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client

from warden_core.server import WardenServer

ERAS = ("modern", "legacy")
"""`modern` speaks 2026-07-28 (stateless, `server/discover`); `legacy` does the initialize handshake."""

_MODES = {"modern": "2026-07-28", "legacy": "legacy"}


@asynccontextmanager
async def connect(server: WardenServer, era: str = "modern", **kwargs: Any) -> AsyncIterator[Client]:
    async with Client(server.mcp, mode=_MODES[era], **kwargs) as client:
        yield client

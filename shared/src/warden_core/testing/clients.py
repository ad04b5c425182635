"""MCP clients for tests, in either protocol era: in memory, or over real streamable HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from warden_core.server import WardenServer

ERAS = ("modern", "legacy")
"""`modern` speaks 2026-07-28 (stateless, `server/discover`); `legacy` does the initialize handshake."""

MODES = {"modern": "2026-07-28", "legacy": "legacy"}


@asynccontextmanager
async def connect(server: WardenServer, era: str = "modern", **kwargs: Any) -> AsyncIterator[Client]:
    """An in-memory client against exactly the server production builds (no transport, no auth)."""
    async with Client(server.mcp, mode=MODES[era], **kwargs) as client:
        yield client


@asynccontextmanager
async def connect_http(
    base_url: str, era: str = "modern", *, token: str | None = None, **kwargs: Any
) -> AsyncIterator[Client]:
    """A client over streamable HTTP to `<base_url>/mcp`, with a bearer token if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    http = create_mcp_http_client(headers=headers)
    transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
    async with http, Client(transport, mode=MODES[era], **kwargs) as client:
        yield client


async def call(
    server: WardenServer, tool: str, arguments: dict[str, Any] | None = None, era: str = "modern", **kwargs: Any
) -> types.CallToolResult:
    """Call one tool in memory and return the raw result (success or tool error)."""
    async with connect(server, era, **kwargs) as client:
        return await client.call_tool(tool, arguments or {})


def text_of(result: types.CallToolResult) -> str:
    """The text of a result's first content block (where errors are reported)."""
    block = result.content[0]
    assert isinstance(block, types.TextContent), block
    return block.text


def data_of(result: types.CallToolResult) -> dict[str, Any]:
    """A successful result's structured content; fails the test with the error text otherwise."""
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content

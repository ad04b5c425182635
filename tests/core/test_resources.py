"""Resource reads pass the same gate as tool calls: audited, limited, refused while draining."""

from __future__ import annotations

import pytest
from mcp import MCPError

from tests.core.example_server import ExampleSettings, build_server
from warden_core.testing import connect

pytestmark = pytest.mark.anyio


async def test_resource_reads_follow_the_allowlist(era: str) -> None:
    server = build_server(ExampleSettings.load(token="t0ken-resources"))
    async with connect(server, era) as client:
        result = await client.read_resource("example://shelves/main")
        assert result.contents[0].text.splitlines()[0] == "item-0"  # type: ignore[union-attr]
        with pytest.raises(MCPError, match=r"shelf 'other' is not allowed"):
            await client.read_resource("example://shelves/other")


async def test_resource_reads_are_rate_limited() -> None:
    server = build_server(ExampleSettings.load(token="t0ken-resources", rate_limit="2/minute"))
    async with connect(server) as client:
        for _ in range(2):
            await client.read_resource("example://shelves/main")
        with pytest.raises(MCPError, match=r"rate limit of 2/minute for resources/read exceeded; retry after"):
            await client.read_resource("example://shelves/main")


async def test_resource_reads_are_refused_while_draining() -> None:
    server = build_server(ExampleSettings.load(token="t0ken-resources"))
    server.draining = True
    async with connect(server) as client:
        with pytest.raises(MCPError, match="shutting down"):
            await client.read_resource("example://shelves/main")

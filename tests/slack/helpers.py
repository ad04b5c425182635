"""Small helpers for calling the server in tests."""

from __future__ import annotations

from typing import Any

from warden_core import WardenServer
from warden_core.testing import connect


async def call(server: WardenServer, tool: str, arguments: dict[str, Any] | None = None, era: str = "modern") -> Any:
    """Call a tool and return its structured result; fail the test if it errored."""
    async with connect(server, era) as client:
        result = await client.call_tool(tool, arguments or {})
    assert not result.is_error, result.content[0].text if result.content else result
    return result.structured_content


async def call_error(
    server: WardenServer, tool: str, arguments: dict[str, Any] | None = None, era: str = "modern"
) -> str:
    """Call a tool that must fail and return the error text the model reads."""
    async with connect(server, era) as client:
        result = await client.call_tool(tool, arguments or {})
    assert result.is_error, result.structured_content
    return str(result.content[0].text)

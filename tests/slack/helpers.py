"""Small helpers for calling the server in tests."""

from __future__ import annotations

from typing import Any

from warden_core import WardenServer
from warden_core.testing import call as call_tool
from warden_core.testing import data_of, text_of


async def call(server: WardenServer, tool: str, arguments: dict[str, Any] | None = None, era: str = "modern") -> Any:
    """Call a tool and return its structured result; fail the test if it errored."""
    return data_of(await call_tool(server, tool, arguments, era))


async def call_error(
    server: WardenServer, tool: str, arguments: dict[str, Any] | None = None, era: str = "modern"
) -> str:
    """Call a tool that must fail and return the error text the model reads."""
    result = await call_tool(server, tool, arguments, era)
    assert result.is_error, result.structured_content
    return text_of(result)

"""Small helpers shared by the warden-kubernetes tests."""

from __future__ import annotations

import json
from typing import Any

from mcp.types import CallToolResult

from warden_core import WardenServer
from warden_core.testing import call


async def ok(server: WardenServer, tool: str, arguments: dict[str, Any], era: str = "modern") -> dict[str, Any]:
    """The structured result of a call that must succeed."""
    result = await call(server, tool, arguments, era)
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content


async def error(server: WardenServer, tool: str, arguments: dict[str, Any], era: str = "modern") -> str:
    """The error text of a call that must fail as a tool error."""
    result = await call(server, tool, arguments, era)
    assert result.is_error, result.structured_content
    return text(result)


def text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def wire(result: CallToolResult) -> str:
    """Everything the client received, as one string (for leak checks)."""
    return json.dumps(result.model_dump(mode="json", by_alias=True))

"""The shape GitHub tests call tools in: structured content of a call that must succeed."""

from __future__ import annotations

from typing import Any

from warden_core import WardenServer
from warden_core.testing import call as call_tool
from warden_core.testing import data_of, text_of

__all__ = ["call", "data_of", "text_of"]


async def call(server: WardenServer, tool: str, arguments: dict[str, Any], era: str = "modern") -> dict[str, Any]:
    return data_of(await call_tool(server, tool, arguments, era))

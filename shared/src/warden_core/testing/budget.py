"""The context budget: what a server's default `tools/list` costs a model, measured the same way for every server.

A client forwards every listed tool (name, title, description, input and output schemas, annotations)
into the model's context on every turn, so the default surface is paid for whether a tool is used or
not. Each server's surface test pins its default `tools/list` with `check_tools_list_budget`:

    async def test_default_tools_list_fits_the_budget() -> None:
        await check_tools_list_budget(build_server(Settings.load()))

The measure is the wire JSON of the listed tools (as `tools/list` returns them), compact, with
non-ASCII characters kept as they are. Rarely used tools belong in groups that are off by default.

Every server's surface test calls it with the server exactly as shipped (default settings).
"""

from __future__ import annotations

import json
from typing import Any

from warden_core.server import WardenServer
from warden_core.testing.toolsnaps import list_tools_json

TOOLS_LIST_BUDGET = 12_000
"""Characters a server's default `tools/list` may take."""


def tools_list_size(tools: list[dict[str, Any]]) -> int:
    """Characters of a `tools/list` answer's tools as compact JSON (what a client hands the model)."""
    return len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))


async def check_tools_list_budget(server: WardenServer, budget: int = TOOLS_LIST_BUDGET) -> int:
    """Fail unless the server's `tools/list` fits in `budget` characters; returns the size."""
    tools = await list_tools_json(server)
    size = tools_list_size(tools)
    per_tool = ", ".join(f"{tool['name']} {tools_list_size([tool]) - 2}" for tool in tools)
    assert size <= budget, f"tools/list takes {size} characters, over the budget of {budget} ({per_tool})"
    return size

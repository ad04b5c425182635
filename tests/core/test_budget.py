"""The context budget of a default `tools/list`: one measure for every server."""

from __future__ import annotations

import json

import pytest

from tests.core.example_server import ExampleSettings, build_server
from warden_core.testing import TOOLS_LIST_BUDGET, check_tools_list_budget, list_tools_json, tools_list_size

pytestmark = pytest.mark.anyio


async def test_the_size_is_the_compact_json_of_the_listed_tools() -> None:
    server = build_server(ExampleSettings())
    tools = await list_tools_json(server)
    size = await check_tools_list_budget(server)
    assert size == len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    assert tools_list_size([{"name": "é"}]) == len('[{"name":"é"}]'), "characters, not escaped bytes"
    assert TOOLS_LIST_BUDGET == 12_000


async def test_a_surface_over_the_budget_fails_and_names_each_tool_s_share() -> None:
    server = build_server(ExampleSettings())
    size = tools_list_size(await list_tools_json(server))
    with pytest.raises(AssertionError, match=rf"tools/list takes {size} characters, over the budget of 100 \(.*ex_"):
        await check_tools_list_budget(server, budget=100)

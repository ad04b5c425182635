"""Toolsnaps: the `tools/list` entry of every tool pinned in a JSON file, and a manifest per mode.

A change to a tool's name, description, schemas or annotations shows up as a diff in review.
`UPDATE_TOOLSNAPS=1` rewrites the files instead of comparing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from warden_core.server import WardenServer
from warden_core.testing.clients import connect


async def list_tools_json(server: WardenServer) -> list[dict[str, Any]]:
    """The server's `tools/list` answer as wire JSON, in the server's order."""
    async with connect(server) as client:
        result = await client.list_tools()
    return [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in result.tools]


def _render(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


async def check_toolsnaps(server: WardenServer, directory: Path, mode: str) -> list[dict[str, Any]]:
    """Compare every exposed tool with `directory/<tool>.json` and the exposed names with the manifest."""
    tools = await list_tools_json(server)
    _compare(tools, directory, mode)
    return tools


def _compare(tools: list[dict[str, Any]], directory: Path, mode: str) -> None:
    update = os.environ.get("UPDATE_TOOLSNAPS") == "1"
    directory.mkdir(parents=True, exist_ok=True)
    expected: dict[Path, str] = {directory / f"{tool['name']}.json": _render(tool) for tool in tools}
    expected[directory / f"_manifest.{mode}.json"] = _render([tool["name"] for tool in tools])
    stale: list[str] = []
    for path, text in expected.items():
        if update:
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(path.name)
    assert not stale, f"toolsnaps differ for {stale}; review the change, then rerun with UPDATE_TOOLSNAPS=1"

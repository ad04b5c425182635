"""Destructive tools ask the user first, in both eras; without a way to ask, nothing happens."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import MCPError
from mcp.types import ElicitResult

from tests.core.example_server import ExampleSettings, build_server
from warden_core.testing import connect

pytestmark = pytest.mark.anyio


def destructive_server() -> Any:
    return build_server(ExampleSettings.load(read_only=False, allow_destructive=True, write_shelves=("main",)))


def answering(action: str, confirm: bool | None = None) -> Any:
    async def callback(context: Any, params: Any) -> ElicitResult:
        assert "Remove every item from shelf 'main'?" in params.message
        content = None if confirm is None else {"confirm": confirm}
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return callback


async def test_confirmed_delete_goes_ahead(era: str) -> None:
    server = destructive_server()
    async with connect(server, era, elicitation_callback=answering("accept", True)) as client:
        result = await client.call_tool("ex_clear_shelf", {"shelf": "main"})
    assert not result.is_error, result.content
    assert server.runtime.shelves["main"] == []


@pytest.mark.parametrize(("action", "confirm"), [("decline", None), ("cancel", None), ("accept", False)])
async def test_anything_but_a_ticked_yes_changes_nothing(era: str, action: str, confirm: bool | None) -> None:
    server = destructive_server()
    async with connect(server, era, elicitation_callback=answering(action, confirm)) as client:
        result = await client.call_tool("ex_clear_shelf", {"shelf": "main"})
    assert result.is_error
    assert "not confirmed by the user; nothing was changed" in result.content[0].text  # type: ignore[union-attr]
    assert len(server.runtime.shelves["main"]) == 50


async def test_a_client_that_cannot_ask_is_refused(era: str) -> None:
    server = destructive_server()
    async with connect(server, era) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("ex_clear_shelf", {"shelf": "main"})
    assert refused.value.error.code == -32021  # missing required client capability: elicitation
    assert len(server.runtime.shelves["main"]) == 50


async def test_a_refused_resource_is_never_put_to_the_user(era: str, tmp_path: Any) -> None:
    audit = tmp_path / "audit.jsonl"
    server = build_server(
        ExampleSettings.load(read_only=False, allow_destructive=True, write_shelves=("main",), audit_sink=str(audit))
    )
    asked: list[str] = []

    async def callback(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    async with connect(server, era, elicitation_callback=callback) as client:
        result = await client.call_tool("ex_clear_shelf", {"shelf": "other"})
    assert result.is_error
    assert "'other' is not allowed by this server's policy (WARDEN_EXAMPLE_WRITE_SHELVES)" in result.content[0].text  # type: ignore[union-attr]
    assert asked == []
    assert server.runtime.shelves["other"] == ["x"]
    events = [line for line in audit.read_text().splitlines() if '"tools/call"' in line]
    assert '"outcome":"policy_denied"' in events[0]

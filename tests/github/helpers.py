"""Small typed accessors for tool results, shared by the tests."""

from __future__ import annotations

from typing import Any

from mcp import types


def text_of(result: types.CallToolResult) -> str:
    """The text of a result's first content block (errors are reported there)."""
    block = result.content[0]
    assert isinstance(block, types.TextContent), block
    return block.text


def data_of(result: types.CallToolResult) -> dict[str, Any]:
    """A successful result's structured content."""
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert isinstance(data, dict)
    return data

"""Tool schemas carry what a model needs, without generated titles."""

from __future__ import annotations

import json

import pytest

from tests.core.example_server import ExampleSettings, build_server
from warden_core.schemas import without_titles
from warden_core.testing import list_tools_json

pytestmark = pytest.mark.anyio


def test_titles_go_but_properties_named_title_stay() -> None:
    schema = {
        "title": "Args",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string"},
            "tags": {"title": "Tags", "type": "array", "items": {"title": "Tag", "type": "string"}},
            "when": {"anyOf": [{"title": "A", "type": "string"}, {"type": "null"}]},
        },
        "$defs": {"Sub": {"title": "Sub", "type": "object", "additionalProperties": {"title": "X"}}},
    }
    lean = without_titles(schema)
    assert "title" in lean["properties"]
    assert "title" not in json.dumps(lean).replace('"title": {', "")


async def test_listed_schemas_have_no_generated_titles() -> None:
    tools = await list_tools_json(build_server(ExampleSettings.load()))
    for tool in tools:
        assert '"title"' not in json.dumps(tool["inputSchema"]), tool["name"]
        assert '"title"' not in json.dumps(tool.get("outputSchema", {})), tool["name"]

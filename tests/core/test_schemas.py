"""Tool schemas carry what a model needs, without pydantic's generated noise."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field, TypeAdapter

from tests.core.example_server import ExampleSettings, build_server
from warden_core.schemas import lean
from warden_core.testing import list_tools_json

pytestmark = pytest.mark.anyio


def test_titles_go_but_properties_named_title_stay() -> None:
    schema = {
        "title": "Args",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string"},
            "tags": {"title": "Tags", "type": "array", "items": {"title": "Tag", "type": "string"}},
        },
        "$defs": {"Sub": {"title": "Sub", "type": "object", "additionalProperties": {"title": "X"}}},
    }
    compact = lean(schema)
    assert "title" in compact["properties"]
    assert "title" not in json.dumps(compact).replace('"title": {', "")


class Example(BaseModel):
    name: str | None = Field(None, description="A name.", max_length=5)
    kind: str | None = Field(None, pattern="^[a-z]+$")
    level: int = 3
    choice: str | None = Field(None, json_schema_extra={"enum": ["a", "b"]})


def test_optional_scalars_become_type_lists_and_keep_their_meaning() -> None:
    import jsonschema

    schema = lean(Example.model_json_schema())
    name = schema["properties"]["name"]
    assert name == {"type": ["string", "null"], "maxLength": 5, "description": "A name."}
    assert schema["properties"]["level"]["default"] == 3  # real defaults stay in input schemas
    # Where pydantic accepts a value, the lean schema does too, and the other way round.
    for value in ({"name": None}, {"name": "abc"}, {"name": "toolong"}, {"kind": "ABC"}, {"kind": None}):
        valid = jsonschema.Draft202012Validator(schema).is_valid(value)
        try:
            Example.model_validate(value)
            accepted = True
        except ValueError:
            accepted = False
        assert valid == accepted, value


def test_output_schemas_drop_defaults() -> None:
    schema = lean(TypeAdapter(Example).json_schema(mode="serialization"), output=True)
    assert "default" not in json.dumps(schema)


async def test_listed_schemas_are_lean() -> None:
    tools = await list_tools_json(build_server(ExampleSettings.load()))
    for tool in tools:
        for key in ("inputSchema", "outputSchema"):
            text = json.dumps(tool.get(key, {}))
            assert '"title"' not in text, tool["name"]
            assert '{"type": "null"}' not in text, tool["name"]

"""Tool schemas carry what a model needs, in spellings every client reads, straight from pydantic."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field, ValidationError

from tests.core.example_server import ExampleSettings, build_server
from warden_core.schemas import ANY_JSON, json_schema
from warden_core.testing import list_tools_json

pytestmark = pytest.mark.anyio


class Sub(BaseModel):
    """A nested model."""

    title: str  # a property called `title` is data, not a pydantic title
    kind: Literal["a", "b"]


class Example(BaseModel):
    name: str | None = Field(None, description="A name.", max_length=5)
    kind: str | None = Field(None, pattern="^[a-z]+$")
    level: int = 3
    nullable: str | None = Field("x", description="null here is not the same as leaving it out.")
    anything: Any = None
    mapping: dict[str, Any] = Field(default_factory=dict)
    values: list[Any] = Field(default_factory=list)
    sub: Sub | None = None


def titles(schema: Any) -> list[str]:
    """Every `title` keyword in a schema (not properties that happen to be named `title`)."""
    if isinstance(schema, list):
        return [t for item in schema for t in titles(item)]
    if not isinstance(schema, dict):
        return []
    found = [schema["title"]] if isinstance(schema.get("title"), str) else []
    return (
        found
        + [t for key, value in schema.items() if key != "properties" for t in titles(value)]
        + [t for value in (schema.get("properties") or {}).values() for t in titles(value)]
    )


def test_no_titles_but_properties_named_title_stay() -> None:
    schema = json_schema(Example)
    assert titles(schema) == []
    assert "title" in schema["$defs"]["Sub"]["properties"]
    assert schema["$defs"]["Sub"]["description"] == "A nested model."
    assert schema["$defs"]["Sub"]["properties"]["kind"] == {"enum": ["a", "b"], "type": "string"}


def test_optional_inputs_are_their_type_alone_and_nulls_that_mean_something_stay() -> None:
    properties = json_schema(Example)["properties"]
    assert properties["name"] == {"type": "string", "maxLength": 5, "description": "A name."}
    assert properties["kind"] == {"type": "string", "pattern": "^[a-z]+$"}
    assert properties["level"] == {"type": "integer", "default": 3}  # real defaults stay in input schemas
    assert properties["nullable"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": "x",
        "description": "null here is not the same as leaving it out.",
    }
    assert properties["sub"] == {"$ref": "#/$defs/Sub"}


def test_any_value_names_the_json_types() -> None:
    properties = json_schema(Example)["properties"]
    assert properties["anything"] == ANY_JSON
    assert properties["values"]["items"] == ANY_JSON
    assert properties["mapping"]["additionalProperties"] is True


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"name": "abc"},
        {"name": "toolong"},
        {"kind": "ABC"},
        {"kind": "abc"},
        {"level": "3"},
        {"nullable": None},
        {"anything": [1, {"a": None}]},
        {"values": [None, 1.5, "x"]},
        {"sub": {"title": "t", "kind": "c"}},
    ],
)
def test_the_input_schema_accepts_what_the_model_accepts(value: dict[str, Any]) -> None:
    valid = jsonschema.Draft202012Validator(json_schema(Example)).is_valid(value)
    try:
        Example.model_validate(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert valid == accepted or value == {"level": "3"}, value  # pydantic's lax mode also takes "3"


def test_output_schemas_allow_every_null_and_carry_no_defaults() -> None:
    schema = json_schema(Example, output=True)
    assert "default" not in json.dumps(schema)
    assert schema["properties"]["name"]["anyOf"] == [{"maxLength": 5, "type": "string"}, {"type": "null"}]
    produced = Example().model_dump(mode="json")
    assert produced["name"] is None and produced["sub"] is None
    jsonschema.Draft202012Validator(schema).validate(produced)


async def test_listed_schemas_are_lean_and_portable() -> None:
    tools = await list_tools_json(build_server(ExampleSettings.load()))
    for tool in tools:
        for key in ("inputSchema", "outputSchema"):
            schema = tool.get(key, {})
            assert titles(schema) == [], tool["name"]
            assert '"type": [' not in json.dumps(schema), tool["name"]

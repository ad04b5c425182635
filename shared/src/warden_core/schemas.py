"""Tool schemas as pydantic generates them, told to leave out what a model does not need and to use
only spellings every client reads.

Every `tools/list` is paid for in the model's context on every turn, so the schemas stay lean: no
titles (pydantic titles every model and property: "Shelf", "list_itemsArguments"), no `default: null`
(absence from `required` already says optional), and no defaults in output schemas (a reader of the
output never uses them).

And they stay portable. Some clients map tool schemas onto a dialect with one `type` per schema and no
`null` type (the OpenAPI subset of Gemini's function declarations), and the MCP Inspector's strict check
warns about whatever such a client may reject: a `type` array, and a schema that constrains nothing
(`{}`, pydantic's spelling of `Any`). So:

- an optional argument whose default is None is advertised as its type alone, without the `null`
  branch: leaving it out means None, which is all a caller needs to know (an explicit `null` is still
  accepted by the validation, which knows the full type);
- a value that may really be null (an output field, or an argument whose `null` differs from its
  default) keeps pydantic's `anyOf: [..., {"type": "null"}]`, one `type` per branch;
- `Any` is spelled as the JSON types it may be.

Choices are `Literal`s: pydantic titles an `Enum` class after this generator has run.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

ANY_JSON: JsonSchemaValue = {
    "anyOf": [{"type": t} for t in ("string", "number", "boolean", "object", "array", "null")],
}
"""Any JSON value, as a schema that names its types (an empty schema says the same, but constrains nothing)."""


class LeanJsonSchema(GenerateJsonSchema):
    """pydantic's JSON schema generator, lean and portable (see the module's docstring), for inputs."""

    output: bool = False

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        return _untitled(super().model_schema(schema))

    def dataclass_schema(self, schema: core_schema.DataclassSchema) -> JsonSchemaValue:
        return _untitled(super().dataclass_schema(schema))

    def typed_dict_schema(self, schema: core_schema.TypedDictSchema) -> JsonSchemaValue:
        return _untitled(super().typed_dict_schema(schema))

    def any_schema(self, schema: core_schema.AnySchema) -> JsonSchemaValue:
        return {"anyOf": [dict(branch) for branch in ANY_JSON["anyOf"]]}

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        if schema.get("values_schema", {}).get("type") == "any":
            json_schema["additionalProperties"] = True  # any value, in the spelling every client knows
        return json_schema

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        inner: CoreSchema = schema["schema"]
        optional = "default" in schema and schema["default"] is None
        if optional and not self.output and inner["type"] == "nullable":
            return self.generate_inner(inner["schema"])  # absent means None: advertise the type alone
        json_schema = super().default_schema(schema)
        if self.output or optional:
            json_schema.pop("default", None)
        return json_schema


class LeanOutputSchema(LeanJsonSchema):
    """The same, for output schemas: a null stays possible wherever the model allows it, and no defaults."""

    output = True


def _untitled(json_schema: JsonSchemaValue) -> JsonSchemaValue:
    json_schema.pop("title", None)
    return json_schema


def json_schema(model: Any, *, output: bool = False) -> JsonSchemaValue:
    """The lean, portable schema of a model or type, as an input (arguments) or as an output (results)."""
    generator = LeanOutputSchema if output else LeanJsonSchema
    if isinstance(model, type) and hasattr(model, "model_json_schema"):
        return dict(model.model_json_schema(by_alias=True, schema_generator=generator))
    return TypeAdapter(model).json_schema(by_alias=True, schema_generator=generator)

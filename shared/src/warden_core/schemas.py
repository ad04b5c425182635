"""Lean JSON schemas: what the model needs to call a tool, without pydantic's generated noise.

Every `tools/list` is paid for in the model's context on every turn. pydantic titles each model and
property ("Shelf", "list_itemsArguments"), spells an optional string as
`anyOf: [{type: string}, {type: null}]` with `default: null`, and gives output fields defaults a
reader of the output never uses. The same meaning fits in far fewer characters.
"""

from __future__ import annotations

from typing import Any

_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SUBSCHEMA_VALUES = ("items", "additionalProperties", "not", "contains")

# Keywords that constrain only values of their own type, so a `null` still passes them; a schema
# made of these can take `null` into its `type` list. (`enum`/`const` would refuse `null`.)
_TYPE_SCOPED = frozenset(
    {
        "type",
        "pattern",
        "format",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "properties",
        "additionalProperties",
        "required",
        "description",
    }
)


def lean(schema: Any, *, output: bool = False) -> Any:
    """A copy of `schema` without titles, with `anyOf [T, null]` as `type: [T, "null"]` where that is
    exact, without `default: null` (absence from `required` already says optional), and, for output
    schemas, without defaults at all. Property names (even one called `title`) are never touched."""
    if not isinstance(schema, dict):
        return schema
    node = {key: value for key, value in schema.items() if key != "title"}
    for key in _SUBSCHEMA_LISTS:
        if isinstance(node.get(key), list):
            node[key] = [lean(item, output=output) for item in node[key]]
    for key in _SUBSCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            node[key] = {name: lean(sub, output=output) for name, sub in node[key].items()}
    for key in _SUBSCHEMA_VALUES:
        if isinstance(node.get(key), dict):
            node[key] = lean(node[key], output=output)
    node = _nullable_as_type(node)
    if "default" in node and (output or node["default"] is None):
        del node["default"]
    return node


def _nullable_as_type(node: dict[str, Any]) -> dict[str, Any]:
    options = node.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return node
    other = next(option for option in options if option != {"type": "null"})
    if not isinstance(other.get("type"), str) or not set(other) <= _TYPE_SCOPED:
        return node
    merged = {key: value for key, value in node.items() if key != "anyOf"}
    return {**other, **merged, "type": [other["type"], "null"]}

"""Lean JSON schemas: what the model needs to call a tool, without pydantic's generated noise.

Every `tools/list` is paid for in the model's context on every turn. pydantic titles each model
and property ("Shelf", "list_itemsArguments"); those repeat the names and descriptions, so they go.
"""

from __future__ import annotations

from typing import Any

_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SUBSCHEMA_VALUES = ("items", "additionalProperties", "not", "contains")


def without_titles(schema: Any) -> Any:
    """A copy of `schema` with every `title` keyword removed (property names called `title` stay)."""
    if not isinstance(schema, dict):
        return schema
    lean = {key: value for key, value in schema.items() if key != "title"}
    for key in _SUBSCHEMA_LISTS:
        if isinstance(lean.get(key), list):
            lean[key] = [without_titles(item) for item in lean[key]]
    for key in _SUBSCHEMA_MAPS:
        if isinstance(lean.get(key), dict):
            lean[key] = {name: without_titles(sub) for name, sub in lean[key].items()}
    for key in _SUBSCHEMA_VALUES:
        if isinstance(lean.get(key), dict):
            lean[key] = without_titles(lean[key])
    return lean

"""Base models for what tools return: lean in the answer and in the output schema.

Every output schema is paid for in the model's context on every turn of a conversation, and every
result in the turn that reads it. Two rules keep both small:

- `Lean`: a field that is None is left out of the answer, so its schema needs no `null` alternative
  and the field is simply not required;
- `Row`: an item inside a result (a hit, a message, an alarm) is an object whose schema lists its field
  names in its description: a reader sees each value's type in the row itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


def _tidy_schema(schema: dict[str, Any]) -> None:
    """An unset field is omitted, never null: its schema needs no `null` alternative, and it is not required."""
    required = schema.get("required") or []
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("default", 0) is None:
            prop.pop("default")
        options = prop.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
            prop.pop("anyOf")
            prop.update(next(option for option in options if option != {"type": "null"}))
            if name in required:
                required.remove(name)  # None is left out of the answer, so the field may be absent
    if "required" in schema and not required:
        del schema["required"]


class Lean(BaseModel):
    """Base of a result model: fields that are None are dropped from the output."""

    model_config = ConfigDict(json_schema_extra=_tidy_schema)

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


def _field_list(schema: dict[str, Any]) -> None:
    """A row's schema is an object whose description names its fields (with a note where one helps).

    Listing the names costs a model what an untyped property would, and the schema stays a valid, typed
    one (an object) that constrains what it honestly can: the row's values speak for their own types.
    """
    properties = schema.pop("properties", None) or {}
    fields = [
        f"{name} ({prop['description'].rstrip('.')})" if "description" in prop else name
        for name, prop in properties.items()
    ]
    schema.clear()
    schema.update({"type": "object", "description": "Fields: " + ", ".join(fields) + "."})


class Row(Lean):
    """An item inside a result: an object whose schema lists its fields by name (see the module)."""

    model_config = ConfigDict(json_schema_extra=_field_list)

"""Argument types and result bases the tools share (module-level, so the SDK can resolve handler annotations)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from warden_aws.render import CURSOR_PATTERN
from warden_aws.settings import REGION_PATTERN

Region = Annotated[
    str | None,
    Field(description="Default: the server's region.", pattern=REGION_PATTERN),
]
Cursor = Annotated[str | None, Field(pattern=CURSOR_PATTERN)]  # a next_cursor: the name says it


def _tidy_schema(schema: dict[str, Any]) -> None:
    """An unset field is omitted from the answer, never null: its schema needs no `null`, and it is not required."""
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


class Out(BaseModel):
    """Base of every tool result model: a field that is None is left out of the answer."""

    model_config = ConfigDict(json_schema_extra=_tidy_schema)

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


def _names_only(schema: dict[str, Any]) -> None:
    """A row's schema names its fields (with a description where one helps) and leaves their types out."""
    schema.pop("required", None)
    schema.pop("description", None)
    properties = schema.get("properties") or {}
    for name, prop in properties.items():
        properties[name] = {"description": prop["description"]} if "description" in prop else {}


class Row(Out):
    """An item inside a result (an instance, an alarm, an event, a finding).

    The output schema of every tool is paid for in the model's context on every turn, so a row's schema
    names its fields without their types: a reader sees each value's type in the row itself.
    """

    model_config = ConfigDict(json_schema_extra=_names_only)

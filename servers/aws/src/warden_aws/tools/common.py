"""Argument types the tools share (module-level, so the SDK can resolve handler annotations)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from warden_aws.render import CURSOR_PATTERN
from warden_aws.settings import REGION_PATTERN

Region = Annotated[
    str | None,
    Field(description="AWS region, e.g. eu-west-1. Omit for the server's default region.", pattern=REGION_PATTERN),
]
Cursor = Annotated[
    str | None,
    Field(
        description="next_cursor from the previous answer, to continue; omit for the first page.",
        pattern=CURSOR_PATTERN,
    ),
]


def _compact_schema(schema: dict[str, Any]) -> None:
    """Leaner output schemas (tools/list is paid for in context): no generated titles, and a nullable
    scalar written as `"type": ["string", "null"]` instead of an `anyOf`."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        options = prop.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
            other = next(option for option in options if option != {"type": "null"})
            if set(other) == {"type"} and isinstance(other["type"], str):
                del prop["anyOf"]
                prop["type"] = [other["type"], "null"]


class Out(BaseModel):
    """Base of every tool result model."""

    model_config = ConfigDict(json_schema_extra=_compact_schema)

"""What every tool group shares: the call context and the `database` argument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from warden_core import Allowlist
from warden_postgres.client import Databases, Deadline
from warden_postgres.settings import DATABASE_NAME, Settings

SCHEMAS = "schemas"
"""The name of the schema allowlist in the core's policy."""

DatabaseArg = Annotated[
    str | None,
    Field(
        description="Name of a configured database (pg_list_schemas lists them); omit for the default one.",
        pattern=DATABASE_NAME,
    ),
]
SchemaArg = Annotated[
    str, Field(description="Schema name, exactly as stored (case-sensitive).", min_length=1, max_length=63)
]
TableArg = Annotated[
    str, Field(description="Table or view name, exactly as stored (case-sensitive).", min_length=1, max_length=63)
]


def compact_schema(schema: dict[str, Any], _model: Any = None) -> None:
    """Drop the titles pydantic derives from field names: they repeat the name and cost context."""
    schema.pop("title", None)
    for field in schema.get("properties", {}).values():
        field.pop("title", None)


class Result(BaseModel):
    """Base of every tool result: its JSON schema (the tool's output schema) carries no derived titles."""

    model_config = ConfigDict(json_schema_extra=compact_schema)


@dataclass(frozen=True)
class ToolContext:
    settings: Settings
    databases: Databases
    schemas: Allowlist

    def deadline(self) -> Deadline:
        """The client-side deadline of one call, including the wait for a pooled connection."""
        return Deadline(self.settings.backend_timeout)

"""What every tool group shares: the call context and the `database` argument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, Field

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


class Result(BaseModel):
    """Base of every tool result (the core keeps its schema, the tool's output schema, lean)."""


@dataclass(frozen=True)
class ToolContext:
    settings: Settings
    databases: Databases
    schemas: Allowlist

    def deadline(self) -> Deadline:
        """The client-side deadline of one call, including the wait for a pooled connection."""
        return Deadline(self.settings.backend_timeout)

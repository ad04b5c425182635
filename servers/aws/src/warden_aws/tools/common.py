"""Argument types the tools share (module-level, so the SDK can resolve handler annotations)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

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


class Out(BaseModel):
    """Base of every tool result model."""

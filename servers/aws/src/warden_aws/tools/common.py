"""Argument types and result bases the tools share (module-level, so the SDK can resolve handler annotations)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from warden_aws.render import CURSOR_PATTERN
from warden_aws.settings import REGION_PATTERN

Region = Annotated[
    str | None,
    Field(description="Default: the server's region.", pattern=REGION_PATTERN),
]
Cursor = Annotated[str | None, Field(pattern=CURSOR_PATTERN)]  # a next_cursor: the name says it

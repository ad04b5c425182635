"""Tool specs: every tool is described by data, and its MCP annotations are derived from that data.

A spec names the tool, says what it is for, which group it belongs to and what it may do to the
backend (its access level). Policy, scopes, annotations and documentation all read the spec, so
a tool cannot claim to be read-only while the policy treats it as a write, or the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from mcp.types import ToolAnnotations

TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Access(StrEnum):
    """What a tool may do to the backend. Ordered: each level includes the ones before it."""

    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def covers(self, other: Access) -> bool:
        return self.rank >= other.rank


_RANK = {Access.READ: 0, Access.WRITE: 1, Access.DESTRUCTIVE: 2}


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """One tool, as data.

    `handler` is an async function whose typed parameters (with `Annotated[..., Field(...)]`)
    become the input schema and whose return type (a pydantic model) becomes the output schema.

    `resource_args` maps an argument name to the allowlist (or allowlists, all of which) must admit
    its value; the core checks it before anything runs, so a refused call never reaches the backend.
    """

    name: str
    title: str
    description: str
    group: str
    access: Access
    handler: Callable[..., Awaitable[Any]]
    open_world: bool = True
    idempotent: bool = False
    resource_args: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not TOOL_NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {TOOL_NAME.pattern}")
        if not self.description.strip():
            raise ValueError(f"tool {self.name!r} needs a description")
        object.__setattr__(self, "resource_args", MappingProxyType(dict(self.resource_args)))

    @property
    def checked_allowlists(self) -> list[tuple[str, str]]:
        """(argument, allowlist) pairs, one per allowlist an argument must pass."""
        return [
            (argument, name)
            for argument, names in self.resource_args.items()
            for name in ((names,) if isinstance(names, str) else names)
        ]

    @property
    def scope(self) -> str:
        """The OAuth scope a caller needs for this tool: `<group>:<access>`."""
        return f"{self.group}:{self.access}"

    @property
    def annotations(self) -> ToolAnnotations:
        """MCP hints derived from the access level, never set by hand.

        Reads repeat safely, so they are idempotent; `destructiveHint` is meaningful only for
        non-read tools and is true exactly for the destructive level.
        """
        read = self.access is Access.READ
        # No `title` here: the tool's own title says it, and clients prefer that one.
        return ToolAnnotations(
            read_only_hint=read,
            destructive_hint=self.access is Access.DESTRUCTIVE,
            idempotent_hint=True if read else self.idempotent,
            open_world_hint=self.open_world,
        )

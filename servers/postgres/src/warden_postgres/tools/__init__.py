"""The tool groups of warden-postgres, in the order tools/list shows them."""

from __future__ import annotations

from warden_core import ToolSpec
from warden_postgres.tools import catalog, query
from warden_postgres.tools.common import ToolContext

GROUPS = (catalog, query)
DEFAULT_GROUPS = tuple(group.GROUP for group in GROUPS)


def all_specs(ctx: ToolContext) -> list[ToolSpec]:
    return [spec for group in GROUPS for spec in group.specs(ctx)]

"""The tool groups of warden-postgres, in the order tools/list shows them: catalog, query (on by default), dba."""

from __future__ import annotations

from warden_core import ToolSpec
from warden_postgres.tools import catalog, dba, query
from warden_postgres.tools.common import ToolContext

GROUPS = (catalog, query, dba)
DEFAULT_GROUPS = (catalog.GROUP, query.GROUP)
"""`dba` is off by default: enable it with WARDEN_POSTGRES_GROUPS=catalog,query,dba."""


def all_specs(ctx: ToolContext) -> list[ToolSpec]:
    return [spec for group in GROUPS for spec in group.specs(ctx)]

"""The tool surface is pinned (toolsnaps) and keeps the contract in every mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import report
from warden_core.testing import check_contract, check_tools_list_budget, check_toolsnaps, list_tools_json

pytestmark = pytest.mark.anyio

SNAPS = Path(__file__).parent / "__toolsnaps__"
MODES = {
    "default": {},
    "read-only": {"groups": "catalog,query,dba", "read_only": True},
    "all": {"groups": "catalog,query,dba", "read_only": False, "allow_destructive": True},
}
DEFAULT_TOOLS = ["pg_list_schemas", "pg_list_tables", "pg_describe_table", "pg_query", "pg_explain"]
OPTIONAL_TOOLS = ["pg_top_queries", "pg_activity", "pg_health", "pg_index_advice"]  # group `dba`, off by default


@pytest.mark.parametrize("mode", list(MODES))
async def test_toolsnaps_and_contract(mode: str) -> None:
    async with running(settings_for(**MODES[mode])) as server:
        tools = await check_toolsnaps(server, SNAPS, mode)
        await check_contract(server, prefix="pg_")
    expected = DEFAULT_TOOLS if mode == "default" else [*DEFAULT_TOOLS, *OPTIONAL_TOOLS]
    assert [tool["name"] for tool in tools] == expected
    assert all(tool["annotations"]["readOnlyHint"] for tool in tools)


async def test_default_tools_list_fits_the_context_budget() -> None:
    async with running(settings_for()) as server:
        await check_tools_list_budget(server)


async def test_descriptions_carry_no_configuration() -> None:
    """Names of databases, schemas and hosts never reach tools/list (R-12)."""
    configured = settings_for(
        "postgresql://warden_app:s3cret-pass@db.internal.example:6543/ledger",
        databases=json.dumps({"payroll": "postgresql://x@hr.internal.example/payroll"}),
        schemas="finance,audit",
    )
    async with running(configured) as server:
        listed = json.dumps(await list_tools_json(server))
    async with running(settings_for()) as bare:
        assert json.dumps(await list_tools_json(bare)) == listed
    for secret in ("ledger", "payroll", "finance", "internal.example", "6543", "s3cret"):
        assert secret not in listed
    report(
        f"default tools/list: {len(json.dumps(json.loads(listed), separators=(',', ':')))} characters (compact JSON)"
    )

"""What PostgreSQL sends back is bounded before it reaches Python: huge errors, huge plans, huge rows.

Each case once cost hundreds of megabytes (and, for the error, minutes of event-loop time). Every call goes
through the real tools with default settings; the Python allocation peak (tracemalloc) is bounded well below
the size of what the database produced, and the answer says truthfully what happened.
"""

from __future__ import annotations

import json
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import database, report, unchecked
from tests.postgres.shop import Shop, fetch, run_sql
from tests.support.postgres import with_user
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


@pytest.fixture
async def server(shop: Shop) -> AsyncIterator[WardenServer]:
    async with running(settings_for(shop.readonly)) as built:
        async with connect(built) as client:
            await client.call_tool("pg_query", {"sql": "SELECT 1"})  # warm: pool, role check, parser
        yield built


async def traced(server: WardenServer, tool: str, arguments: dict[str, Any]) -> tuple[Any, float]:
    """The tool's result and the peak of Python allocations during the call, in MiB."""
    tracemalloc.start()
    try:
        async with connect(server) as client:
            result = await client.call_tool(tool, arguments)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / MiB


async def test_a_huge_error_message_is_cut_before_it_is_read(server: WardenServer) -> None:
    """PostgreSQL quotes the 16 MB input in its error; asyncpg alone held all of it, and took quadratic time."""
    result, peak = await traced(server, "pg_query", {"sql": "SELECT repeat('x', 16000000)::int"})
    report(f"16 MB error message: Python allocation peak {peak:.1f} MiB")
    assert result.is_error
    text = result.content[0].text
    assert 'invalid input syntax for type integer: "xxxx' in text and text.endswith("… [SQLSTATE 22P02]")
    assert len(text) < 1000
    assert peak < 8


async def test_explain_of_a_huge_folded_constant_says_how_big_the_plan_is(server: WardenServer) -> None:
    """repeat() is folded at plan time: VERBOSE prints the 100 MB constant. It was `plan: null, truncated: false`."""
    sql = "SELECT repeat('x', 100000000) AS big"
    result, peak = await traced(server, "pg_explain", {"sql": sql, "verbose": True})
    report(f"EXPLAIN VERBOSE of a 100 MB constant: Python allocation peak {peak:.1f} MiB")
    assert not result.is_error, result.content
    plan = result.structured_content
    assert plan["plan"] is None and plan["truncated"] is True
    assert plan["truncation"].startswith("the plan is 100,0") and plan["truncation"].endswith("or without verbose")
    assert peak < 16


async def test_a_plan_somewhat_over_the_budget_comes_back_cut_as_text(server: WardenServer) -> None:
    size = 2 * server.settings.max_output_bytes  # over the budget, under the 4x that comes back null
    result = await traced(server, "pg_explain", {"sql": f"SELECT repeat('x', {size}) AS big", "verbose": True})
    plan = result[0].structured_content
    budget = server.settings.max_output_bytes - 1024
    assert isinstance(plan["plan"], str) and plan["plan"].startswith('[{"Plan":')
    assert len(plan["plan"].encode()) <= budget
    assert plan["truncated"] is True and plan["truncation"].endswith(f"its first {budget:,} come as text")


async def test_a_plan_that_fits_is_whole(server: WardenServer) -> None:
    result = await traced(server, "pg_explain", {"sql": "SELECT count(*) FROM orders"})
    plan = result[0].structured_content
    assert plan["plan"][0]["Plan"]["Node Type"] == "Aggregate"
    assert plan["truncated"] is False and plan.get("truncation") is None


async def test_a_row_of_1600_wide_values_is_not_read(server: WardenServer) -> None:
    """Each value is under the default value cap (32 KiB, from MAX_OUTPUT_BYTES), so the measuring wrapper keeps
    them all: 48 MB in one row."""
    columns = ", ".join(f"repeat('x', 30000) AS c{i}" for i in range(1600))
    result, peak = await traced(server, "pg_query", {"sql": f"SELECT {columns}"})
    report(f"one row of 1,600 x 30 KB: Python allocation peak {peak:.1f} MiB")
    assert not result.is_error, result.content
    answer = result.structured_content
    assert answer["rows"] == [] and answer["truncated"] is True
    assert "a row too large to read" in answer["truncation"]
    # The row itself is never read; what remains is the statement's size: parsing the measuring wrapper
    # around 1,600 columns, and the query trees PostgreSQL returns for it and for the statement (the plan
    # check reads both): about 70 MiB at the peak, where reading the row cost 465 MB.
    assert peak < 128


async def test_rows_before_the_oversized_one_come_back(server: WardenServer) -> None:
    # 1.2 MB at n = 3, each value under the default value cap (32 KiB)
    wide = ", ".join(f"CASE WHEN n = 3 THEN repeat('y', 30000) END AS w{i}" for i in range(40))
    result, _ = await traced(server, "pg_query", {"sql": f"SELECT n, {wide} FROM generate_series(1, 5) AS n"})
    answer = result.structured_content
    assert [row[0] for row in answer["rows"]] == [1, 2]
    assert answer["truncated"] is True and "a row too large to read" in answer["truncation"]


async def test_an_oversized_catalog_row_is_refused_never_dropped(server: WardenServer, shop: Shop) -> None:
    """Outside a tool's row stream a row is never silently lost: the connection is closed and the call says why."""
    table = f"commented_{uuid.uuid4().hex[:8]}"
    await run_sql(shop.owner, f"CREATE TABLE {table} (x int); COMMENT ON TABLE {table} IS '{'c' * 20_000_000}'")
    try:
        async with connect(server) as client:
            refused = await client.call_tool("pg_describe_table", {"schema": "public", "table": table})
            after = await client.call_tool("pg_query", {"sql": "SELECT 2 AS two"})
    finally:
        await run_sql(shop.owner, f"DROP TABLE {table}")
    assert refused.is_error
    assert "more than the 16,777,216 this server reads at once; the connection was closed" in refused.content[0].text
    assert after.structured_content["rows"] == [[2]]


@pytest.mark.parametrize("depth", [200, 201, 3000])
async def test_deeply_nested_json_comes_back_as_text_past_200_levels(server: WardenServer, depth: int) -> None:
    """It failed with "PydanticSerializationError" (or RecursionError) from about 250 levels."""
    sql = f"SELECT (repeat('[', {depth}) || repeat(']', {depth}))::jsonb AS j"
    result, _ = await traced(server, "pg_query", {"sql": sql})
    assert not result.is_error, result.content
    value = result.structured_content["rows"][0][0]
    assert value == ("[" * depth + "]" * depth if depth > 200 else json.loads("[" * depth + "]" * depth))


async def test_bind_parameters_never_reach_the_server_log_with_an_error(shop: Shop) -> None:
    """The one log setting a role may change is pinned in every transaction, whatever the role asks for."""
    role = f"warden_logs_{uuid.uuid4().hex[:8]}"
    await run_sql(
        shop.admin,
        f'CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE "{shop.database}" TO {role}; '
        f"ALTER ROLE {role} SET log_parameter_max_length_on_error = -1",
    )
    try:
        direct = await fetch(with_user(shop.admin, role), "SELECT current_setting('log_parameter_max_length_on_error')")
        async with running(settings_for(with_user(shop.admin, role))) as server:
            pinned = await unchecked(database(server), "SELECT current_setting('log_parameter_max_length_on_error')")
    finally:
        await run_sql(shop.admin, f'REVOKE CONNECT ON DATABASE "{shop.database}" FROM {role}; DROP ROLE {role}')
    assert direct[0][0] == "-1"  # the role's own setting: every parameter value, in full
    assert pinned.rows == [["0"]]

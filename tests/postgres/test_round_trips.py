"""Round trips per tool call, counted on the wire (tests/support/pgwire.py), with the plan check in place.

The plan check reads the tree that the statement's own Parse returns, so it adds no round trip of its own
to a statement on built-in objects once the database's built-in facts are known; a statement on user tables
adds one catalog lookup (its EXECUTE: two round trips with asyncpg's Parse/Bind). Counts are deterministic, so
the bounds below are asserted; they can only go down. The figures are also reported (`pytest -s`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import database, report
from tests.postgres.shop import Shop, run_sql
from tests.support.pgwire import RoundTrips
from warden_core.testing import connect, data_of, text_of

pytestmark = pytest.mark.anyio

# (tool, sql, most round trips of a warm call): start, Parse(s), lookup, Bind, Execute, end.
CALLS = [
    ("pg_query", "SELECT 1", 5),
    ("pg_query", "SELECT count(*) FROM customers", 7),
    ("pg_query", "SELECT id, status, note FROM orders WHERE status = 'paid' ORDER BY id LIMIT 5", 8),
    ("pg_query", "SELECT * FROM generate_series(1, 10)", 6),
    ("pg_query", "SELECT o.status, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1", 8),
    ("pg_query", "SELECT rolname FROM pg_roles WHERE rolname = current_user", 6),
    ("pg_explain", "SELECT * FROM orders WHERE id = 1", 8),
]


@pytest.fixture
async def counted(shop: Shop) -> AsyncIterator[tuple[RoundTrips, object]]:
    with RoundTrips(shop.readonly) as proxy:
        async with running(settings_for(proxy.dsn, pool_size=1)) as server, connect(server) as client:
            await client.call_tool("pg_query", {"sql": "SELECT 1"})  # the pool and the role check
            yield proxy, client


async def test_round_trips_per_call(counted: tuple[RoundTrips, object]) -> None:
    proxy, client = counted
    for tool, sql, bound in CALLS:
        trips = []
        for _ in range(2):  # the first call also learns the built-in facts this statement uses
            proxy.reset()
            result = await client.call_tool(tool, {"sql": sql})  # type: ignore[attr-defined]
            assert not result.is_error, result.content[0].text
            trips.append(proxy.count)
        report(f"round trips of {tool}({sql!r}): first {trips[0]}, then {trips[1]}")
        assert trips[1] <= bound, f"{tool}({sql!r}) now takes {trips[1]} round trips (was at most {bound})"


async def test_a_session_that_starts_without_the_catalog_lookups_still_checks(shop: Shop) -> None:
    """A statement whose last check asked the catalog nothing starts its next session without preparing the lookups
    (the most expensive part of the start). If that guess is wrong, the check prepares them itself and still refuses."""
    suffix = uuid.uuid4().hex[:8]
    schema, view = f"hidden_{suffix}", f"peek_{suffix}"
    await run_sql(
        shop.owner,
        f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (x int); "
        f"CREATE VIEW public.{view} AS SELECT x FROM {schema}.t",
    )
    try:
        async with running(settings_for(shop.owner, schemas=["public"])) as server, connect(server) as client:
            db = database(server)
            builtin, table, hidden = "SELECT 1 + 1 AS two", "SELECT count(*) FROM customers", f"SELECT x FROM {view}"
            for _ in range(2):
                assert data_of(await client.call_tool("pg_query", {"sql": builtin}))["rows"] == [[2]]
            assert db._asked_catalog[hash(builtin)] is False  # its next start leaves the lookups out

            counted = data_of(await client.call_tool("pg_query", {"sql": table}))["rows"]
            assert db._asked_catalog[hash(table)] is True  # user tables: asked every time
            db._asked_catalog[hash(table)] = False  # a wrong guess: the start leaves out lookups the check needs
            assert data_of(await client.call_tool("pg_query", {"sql": table}))["rows"] == counted
            assert db._asked_catalog[hash(table)] is True

            refused = await client.call_tool("pg_query", {"sql": hidden})
            assert refused.is_error and schema in text_of(refused)
            db._asked_catalog[hash(hidden)] = False
            again = await client.call_tool("pg_query", {"sql": hidden})
            assert again.is_error and text_of(again) == text_of(refused)
    finally:
        await run_sql(shop.owner, f"DROP VIEW public.{view}; DROP SCHEMA {schema} CASCADE")

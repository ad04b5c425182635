"""Round trips per tool call, counted on the wire (tests/support/pgwire.py), with the plan check in place.

The plan check reads the tree that the statement's own Parse returns, so it adds no round trip of its own
to a statement on built-in objects once the database's built-in facts are known; a statement on user tables
adds one catalog lookup (its EXECUTE: two round trips with asyncpg's Parse/Bind). Counts are deterministic, so
the bounds below are asserted; they can only go down. The figures are also reported (`pytest -s`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import report
from tests.postgres.shop import Shop
from tests.support.pgwire import RoundTrips
from warden_core.testing import connect

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

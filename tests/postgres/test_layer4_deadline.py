"""Layer 4 on its own: the client-side deadline, which no SQL can move, ends the call and the backend.

Validation is bypassed so `pg_sleep` (which layer 1 refuses) can run, and the server-side
statement_timeout is set to an hour so only the client deadline acts. After each timeout the server's
pg_stat_activity must show no backend still running the statement, and the pool must still work.
Elapsed times are printed for the report; the bounds asserted are sanity bounds, not timings.
"""

from __future__ import annotations

import time

import anyio
import asyncpg
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import LIMITS, database, report, unchecked
from tests.postgres.shop import Shop
from warden_core import Timeout
from warden_core.testing import connect
from warden_postgres.client import Deadline

pytestmark = pytest.mark.anyio

HOUR = 3600.0


async def leftover(shop: Shop, marker: str) -> int:
    """Backends of the shop database still running a statement that contains `marker`."""
    conn = await asyncpg.connect(shop.admin)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle' AND strpos(query, $1) > 0",
                marker,
            )
        )
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_sleep(3600)",
        # SQL cannot lift the client deadline, even when it switches the server's limit off first.
        "SELECT set_config('statement_timeout', '0', true), pg_sleep(3600)",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    ],
)
async def test_the_client_deadline_cancels_the_statement(shop: Shop, sql: str) -> None:
    async with running(settings_for(shop.readonly, statement_timeout=HOUR, backend_timeout=1.0)) as server:
        db = database(server)
        started = time.perf_counter()
        with pytest.raises(Timeout, match=r"within 1 s"):
            await unchecked(db, sql, seconds=1.0)
        elapsed = time.perf_counter() - started
        report(f"{sql[:40]!r}: ended after {elapsed:.3f} s for a 1 s deadline")
        assert 0.9 < elapsed < 10
        assert await leftover(shop, sql[:30]) == 0
        assert (await unchecked(db, "SELECT 1")).rows == [[1]]  # the pool recovered


async def test_the_server_statement_timeout_acts_on_its_own(shop: Shop) -> None:
    async with running(settings_for(shop.readonly, statement_timeout=0.5, backend_timeout=HOUR)) as server:
        with pytest.raises(Timeout, match="57014"):
            await unchecked(database(server), "SELECT pg_sleep(3600)", seconds=HOUR)
        assert await leftover(shop, "pg_sleep(3600)") == 0


async def test_waiting_for_a_pooled_connection_counts_against_the_deadline(shop: Shop) -> None:
    async with running(settings_for(shop.readonly, statement_timeout=HOUR, pool_size=1)) as server:
        db = database(server)
        outcomes: list[BaseException] = []

        async def hold() -> None:
            try:
                await unchecked(db, "SELECT pg_sleep(3600) /* holder */", seconds=2.0)
            except Timeout as exc:
                outcomes.append(exc)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(hold)
            await anyio.sleep(0.3)  # the holder has the only connection
            started = time.perf_counter()
            with pytest.raises(Timeout, match="no connection"):
                await db.run("SELECT 1", [], analysis=None, limits=LIMITS, deadline=Deadline(0.5))
            assert time.perf_counter() - started < 5
        assert len(outcomes) == 1
        assert await leftover(shop, "/* holder */") == 0
        assert (await unchecked(db, "SELECT 1")).rows == [[1]]


async def test_through_the_tools_an_endless_query_ends_at_the_deadline(shop: Shop) -> None:
    """All layers on: the recursive CTE passes layer 1 (it is valid read-only SQL) and the deadline ends it."""
    async with running(settings_for(shop.readonly, statement_timeout=HOUR, backend_timeout=1.0)) as server:
        sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r /* endless */"
        async with connect(server) as client:
            started = time.perf_counter()
            result = await client.call_tool("pg_query", {"sql": sql})
            elapsed = time.perf_counter() - started
        report(f"endless recursive CTE via pg_query: {elapsed:.3f} s for a 1 s deadline")
        assert result.is_error
        assert "did not finish within 1 s" in result.content[0].text
        assert elapsed < 10
        assert await leftover(shop, "/* endless */") == 0

"""A fair share of the pool: one caller cannot hold every pooled connection while another waits.

First the rule on its own (`FairShare`), then end to end: two principals with their own API keys call a real
server over HTTP, one of them with as many slow statements as the pool has connections.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import asyncpg
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.postgres.conftest import settings_for
from tests.postgres.shop import Shop, run_sql
from tests.support.live_http import serve_http
from warden_core.auth import hash_api_key
from warden_postgres.fairshare import FairShare
from warden_postgres.server import build_server

pytestmark = pytest.mark.anyio


async def test_one_principal_holds_at_most_all_but_one() -> None:
    share = FairShare(4)
    for _ in range(3):
        await share.acquire("a")
    with anyio.move_on_after(0.2) as waited:
        await share.acquire("a")
    assert waited.cancelled_caught  # the fourth is not for "a"
    with anyio.fail_after(1):
        await share.acquire("b")  # but for anybody else, at once
    assert share.held == {"a": 3, "b": 1}


async def test_a_freed_slot_goes_to_the_waiting_principal_holding_fewest() -> None:
    share = FairShare(4)
    for _ in range(3):
        await share.acquire("a")
    await share.acquire("b")
    served: list[str] = []

    async def wait_for(principal: str) -> None:
        await share.acquire(principal)
        served.append(principal)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(wait_for, "b")  # first in line, but already holds one
        await anyio.sleep(0.05)
        tasks.start_soon(wait_for, "c")  # holds none
        await anyio.sleep(0.05)
        share.release("a")
        await anyio.sleep(0.05)
        assert served == ["c"]
        share.release("c")
    assert served == ["c", "b"]


async def test_a_caller_that_gives_up_waiting_takes_nothing() -> None:
    share = FairShare(1)
    await share.acquire("a")
    with anyio.move_on_after(0.1):
        await share.acquire("b")
    share.release("a")
    with anyio.fail_after(1):
        await share.acquire("c")
    assert share.held == {"c": 1}


async def test_with_one_connection_callers_take_turns() -> None:
    share = FairShare(1)
    await share.acquire("a")
    order: list[str] = []

    async def take(principal: str) -> None:
        await share.acquire(principal)
        order.append(principal)
        share.release(principal)

    async with anyio.create_task_group() as tasks:
        for principal in ("a", "b", "a"):
            tasks.start_soon(take, principal)
            await anyio.sleep(0.02)
        share.release("a")
    assert order == ["a", "b", "a"]


# --- End to end: two API keys, one real server, one real database. -----------------------------------------


async def lock_waiters(shop: Shop, table: str) -> int:
    conn = await asyncpg.connect(shop.admin)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND strpos(query, $1) > 0",
                table,
            )
        )
    finally:
        await conn.close()


async def test_a_second_caller_is_served_while_the_first_fills_the_pool(shop: Shop) -> None:
    table = f"contended_{uuid.uuid4().hex[:8]}"
    await run_sql(shop.owner, f"CREATE TABLE {table} (x int); GRANT SELECT ON {table} TO {shop.readonly_role}")
    keys = {"busy": f"busy-key-{uuid.uuid4().hex}", "quick": f"quick-key-{uuid.uuid4().hex}"}
    # The busy caller's statements wait on a table lock the test holds (no CPU spent on a shared machine), so
    # lock_timeout must outlast the test; the pool size is the default.
    settings = settings_for(
        shop.readonly,
        transport="http",
        api_keys=",".join(f"{name}:{hash_api_key(key)}" for name, key in keys.items()),
        lock_timeout=60,
    )
    pool_size = settings.pool_size
    locker = await asyncpg.connect(shop.owner)
    busy_results: list[Any] = []
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        with serve_http(build_server(settings)) as base:

            async def call(key: str, sql: str) -> Any:
                headers = {"Authorization": f"Bearer {key}"}
                async with (
                    httpx2.AsyncClient(headers=headers, timeout=60) as http,
                    Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
                ):
                    return await client.call_tool("pg_query", {"sql": sql})

            async def busy() -> None:
                busy_results.append(await call(keys["busy"], f"SELECT count(*) FROM {table}"))

            async with anyio.create_task_group() as tasks:
                for _ in range(pool_size):  # as many slow calls as the pool has connections
                    tasks.start_soon(busy)
                for _ in range(300):  # until the busy calls that got a connection wait on the lock
                    if await lock_waiters(shop, table) >= pool_size - 1:
                        break
                    await anyio.sleep(0.1)
                await anyio.sleep(0.5)
                assert await lock_waiters(shop, table) == pool_size - 1  # the last busy call waits for a slot
                quick = await call(keys["quick"], "SELECT 42 AS answer")
                assert quick.structured_content["rows"] == [[42]]
                assert busy_results == []  # served while every busy call was still waiting
                await lock.rollback()
    finally:
        await locker.close()
        await run_sql(shop.owner, f"DROP TABLE {table}")
    assert [r.structured_content["rows"] for r in busy_results] == [[[0]]] * pool_size

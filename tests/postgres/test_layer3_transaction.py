"""Layer 3 on its own: the server's read-only transaction, always rolled back, and the reset before reuse.

Validation is bypassed and the credential is the table owner, so only the transaction (and what the
owner may not do anyway) stands between each statement and the data. Every attempt is followed by a
snapshot of the database; a second call on the same pooled connection (pool size 1) must see a clean
session: same backend, original role, settings, no channels, cursors, prepared statements or locks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import attempt, database, probe
from tests.postgres.shop import Shop, run_sql, snapshot
from tests.support.postgres import with_user
from warden_core import WardenError, WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio

WRITES = [
    "DELETE FROM order_items",
    "UPDATE customers SET full_name = 'pwned'",
    "INSERT INTO products (sku, name, price) VALUES ('X', 'x', 1)",
    "TRUNCATE order_items",
    "DROP TABLE order_items",
    "CREATE TABLE warden_new (x int)",
    "CREATE TEMP TABLE warden_tmp (x int)",
    "SELECT * INTO warden_new FROM customers",
    "CREATE TABLE warden_new AS SELECT 1",
    "WITH d AS (DELETE FROM order_items RETURNING 1) SELECT count(*) FROM d",
    "WITH u AS (UPDATE customers SET full_name = 'pwned' RETURNING 1) SELECT 1",
    "SELECT nextval('orders_id_seq')",
    "SELECT setval('orders_id_seq', 1)",
    "SELECT * FROM customers FOR UPDATE",
    "DO $$ BEGIN DELETE FROM order_items; END $$",
    "EXPLAIN ANALYZE DELETE FROM order_items",
    "COMMENT ON TABLE customers IS 'pwned'",
    "GRANT ALL ON customers TO PUBLIC",
    "ALTER TABLE customers ADD COLUMN pwned int",
    "VACUUM customers",
    "ALTER SYSTEM SET work_mem = '1GB'",
    "SET TRANSACTION READ WRITE",
    "COPY order_items FROM '/etc/hostname'",
    # Not stopped by a read-only transaction; refused here because the owner lacks the privilege
    # (layer 6 makes sure the role does). Layer 1 refuses them for any role.
    "COPY (SELECT 1) TO PROGRAM 'true'",
    "CHECKPOINT",
    "LOAD 'auto_explain'",
]

# Allowed inside a read-only transaction, with effects the ROLLBACK undoes.
ROLLED_BACK = [
    "ANALYZE customers",
    "CLUSTER customers USING customers_pkey",
    "REINDEX TABLE customers",
    "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE",
    "NOTIFY warden_channel, 'hello'",
    "SELECT pg_notify('warden_channel', 'hello')",
    "SELECT lo_from_bytea(0, 'x')",  # PostgreSQL 15 allows large-object writes in read-only transactions
    "COMMIT",
    "ROLLBACK",
    "COMMIT AND CHAIN",
]

POISON = [
    "SET statement_timeout = 0",
    "SET application_name = 'pwned'",
    "SET work_mem = '1GB'",
    "SET search_path = internal",
    "SET default_transaction_read_only = off",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SELECT set_config('application_name', 'pwned', false)",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "LISTEN warden_channel",
    "DECLARE warden_cursor CURSOR WITH HOLD FOR SELECT * FROM customers",
    "PREPARE warden_plan AS SELECT * FROM customers",
    "SELECT pg_advisory_lock(4242)",
    "SELECT pg_advisory_lock_shared(4243)",
    "SELECT pg_try_advisory_lock(4244)",
    "COMMIT",
]


@pytest.fixture
async def one_connection(shop: Shop) -> AsyncIterator[WardenServer]:
    async with running(settings_for(shop.owner, pool_size=1)) as server:
        yield server


@pytest.mark.parametrize("sql", WRITES)
async def test_the_transaction_refuses_writes(owner_server: WardenServer, shop: Shop, sql: str) -> None:
    before = await snapshot(shop)
    outcome = await attempt(database(owner_server), sql)
    assert isinstance(outcome, WardenError), f"{sql} was executed"
    assert await snapshot(shop) == before


@pytest.mark.parametrize("sql", ROLLED_BACK)
async def test_what_read_only_mode_allows_is_rolled_back(owner_server: WardenServer, shop: Shop, sql: str) -> None:
    before = await snapshot(shop)
    await attempt(database(owner_server), sql)
    assert await snapshot(shop) == before
    conn = await asyncpg.connect(shop.admin)
    try:
        assert await conn.fetchval("SELECT pg_notification_queue_usage()") == 0
    finally:
        await conn.close()


@pytest.mark.parametrize("sql", POISON)
async def test_session_state_does_not_survive_to_the_next_call(
    one_connection: WardenServer, shop: Shop, sql: str
) -> None:
    db = database(one_connection)
    clean = await probe(db)
    await attempt(db, sql)
    after = await probe(db)
    assert after["pid"] == clean["pid"], "the pool of one must have reused the connection"
    assert after == clean
    assert clean["listening"] == clean["prepared"] == clean["cursors"] == clean["advisory_locks"] == 0
    assert clean["read_only"] == "on"
    conn = await asyncpg.connect(shop.admin)
    try:
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert held == 0
    finally:
        await conn.close()


async def test_a_superuser_session_is_reset_too(shop: Shop) -> None:
    """Role changes need a superuser here; the reset undoes them like everything else."""
    async with running(settings_for(shop.admin, pool_size=1)) as server:
        db = database(server)
        clean = await probe(db)
        for sql in (
            f"SET ROLE {shop.readonly_role}",
            f"SET SESSION AUTHORIZATION {shop.readonly_role}",
            f"SELECT set_config('role', '{shop.readonly_role}', false)",
        ):
            await attempt(db, sql)
            assert await probe(db) == clean, sql
        assert clean["user"] == clean["session"] != shop.readonly_role


async def test_the_session_reads_sql_text_the_way_the_validator_does(shop: Shop) -> None:
    """With standard_conforming_strings off, `'a\\'` would swallow what the parser saw as code."""
    legacy = f"warden_legacy_{shop.readonly_role[-8:]}"
    await run_sql(
        shop.admin,
        f"CREATE ROLE {legacy} LOGIN IN ROLE {shop.readonly_role}; "
        f"ALTER ROLE {legacy} SET standard_conforming_strings = off",
    )
    try:
        async with running(settings_for(with_user(shop.admin, legacy))) as server, connect(server) as client:
            result = await client.call_tool(
                "pg_query", {"sql": "SELECT current_setting('standard_conforming_strings'), 'a\\' AS text"}
            )
        assert result.structured_content["rows"] == [["on", "a\\"]]
    finally:
        await run_sql(shop.admin, f"DROP ROLE {legacy}")

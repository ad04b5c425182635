"""Layer 3 on its own: the server's read-only transaction, always rolled back, and the reset before reuse.

Validation is bypassed and the credential is the table owner, so only the transaction (and what the
owner may not do anyway) stands between each statement and the data. Every attempt is followed by a
snapshot of the database; a second call on the same pooled connection (pool size 1) must see a clean
session: same backend, original role, settings, no channels, cursors, prepared statements or locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from tests.postgres.conftest import Roles, running, settings_for
from tests.postgres.layers import PROBE_SQL, attempt, database, probe, unchecked
from tests.postgres.shop import Shop, run_sql, snapshot
from tests.support.postgres import with_user
from warden_core import WardenError, WardenServer
from warden_core.testing import acting_as, connect
from warden_core.testing.identity import end_user
from warden_postgres import client
from warden_postgres.client import Database, Deadline

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
    """Role changes need a superuser here (served only with its flag); the reset undoes them like everything else."""
    async with running(settings_for(shop.admin, pool_size=1, unsafe_allow_superuser=True)) as server:
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


async def test_the_mapped_role_never_leaks_to_the_next_call(roles: Roles) -> None:
    """ROLE_MAP: each session switches to its caller's role; a role change in the tool text (validation
    bypassed) ends with the call, and the next caller, or the server itself, gets its own role back."""
    async with running(settings_for(roles.login_dsn, role_map=roles.role_map(), pool_size=1)) as server:
        await _mapped_roles_do_not_leak(database(server), roles)


async def _mapped_roles_do_not_leak(db: Database, roles: Roles) -> None:
    with acting_as(end_user("alice@example.com", ["analysts"])):
        first = await attempt(db, PROBE_SQL)
        await attempt(db, f"SET ROLE {roles.oncall}")
        await attempt(db, "RESET ROLE")
        await attempt(db, f"SELECT set_config('role', '{roles.oncall}', false)")
        await attempt(db, f"COMMIT; SET ROLE {roles.oncall}")
    with acting_as(end_user("bob@example.com", ["oncall"])):
        bob = await attempt(db, PROBE_SQL)
    async with db.session(Deadline(10), as_login=True) as conn:
        login = await conn.fetchrow(PROBE_SQL)
    assert not isinstance(first, Exception) and not isinstance(bob, Exception)
    alice_row, bob_row = first.rows[0], bob.rows[0]
    assert (alice_row[0], alice_row[1]) == (bob_row[0], roles.analyst)  # the same backend, Alice's role
    assert bob_row[1] == roles.oncall  # (application_name names a tool call's request: tests/postgres/test_identity.py)
    assert login is not None and login["pid"] == alice_row[0]
    assert (login["user"], login["session"], login["application"]) == (roles.login, roles.login, "warden-postgres")


# --- One message to open the session, one to end it. -----------------------------------------------

LEFT_BEHIND = """
SELECT pg_backend_pid() AS pid, current_user AS "user", session_user AS session,
       current_setting('work_mem') AS work_mem,
       current_setting('default_transaction_read_only') AS default_read_only,
       current_setting('application_name') AS application,
       (SELECT count(*) FROM pg_listening_channels()) AS listening,
       (SELECT count(*) FROM pg_prepared_statements WHERE name = 'warden_left') AS prepared,
       (SELECT count(*) FROM pg_cursors WHERE name = 'warden_left') AS cursors,
       (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory_locks,
       pg_catalog.to_regclass('pg_temp.warden_left') AS temp_table,
       pg_catalog.to_regclass('pg_temp.warden_left_seq') AS temp_sequence
"""


async def _left_behind(db: Database) -> dict[str, object]:
    rows = await unchecked(db, LEFT_BEHIND)
    return dict(zip([c.name for c in rows.columns], rows.rows[0], strict=True))


async def _lastval_is_defined(db: Database) -> bool:
    outcome = await attempt(db, "SELECT lastval()")
    return not isinstance(outcome, WardenError)


async def test_a_session_that_left_state_behind_hands_over_a_clean_connection(shop: Shop) -> None:
    """Whatever a session leaves (committed, so ROLLBACK alone would keep it), the next one sees none of it.

    The session is driven below every layer: its connection runs text no tool could send, to leave
    behind session settings, a role, a channel, a WITH HOLD cursor, a prepared statement, advisory
    locks, a temporary table and sequence, and a sequence value for lastval() and currval().
    """
    # Leaving a role, a temporary table and advisory locks behind needs a superuser, served only with its flag.
    async with running(settings_for(shop.admin, pool_size=1, unsafe_allow_superuser=True)) as server:
        try:
            await _leave_state_behind(database(server), shop)
        finally:
            await run_sql(shop.admin, "DROP SEQUENCE IF EXISTS public.warden_left_counter")


async def _leave_state_behind(db: Database, shop: Shop) -> None:
    """Runs as the superuser on a pool of one connection."""
    clean = await probe(db)
    before = await _left_behind(db)
    async with db.session(Deadline(10)) as conn:
        await conn.execute(
            "COMMIT; SET default_transaction_read_only = off; SET work_mem = '7MB'; SET application_name = 'left'"
        )
        await conn.execute(
            "BEGIN; CREATE TEMP TABLE warden_left (x int); CREATE TEMP SEQUENCE warden_left_seq;"
            " CREATE SEQUENCE public.warden_left_counter; SELECT nextval('public.warden_left_counter');"
            " LISTEN warden_left;"
            " DECLARE warden_left CURSOR WITH HOLD FOR SELECT 1; PREPARE warden_left AS SELECT 1;"
            " SELECT pg_advisory_lock(4245), pg_advisory_lock_shared(4246); COMMIT"
        )
        assert await conn.fetchval("SELECT lastval()") == 1
        await conn.execute(f"SET SESSION AUTHORIZATION {shop.readonly_role}; SET ROLE NONE")
        dirty = await conn.fetchrow(LEFT_BEHIND)
        assert dirty is not None
        assert dirty["work_mem"] == "7MB" and dirty["default_read_only"] == "off"
        assert dirty["session"] == shop.readonly_role
        assert dirty["listening"] == dirty["prepared"] == dirty["cursors"] == 1
        assert dirty["advisory_locks"] == 2
        assert dirty["temp_table"] is not None and dirty["temp_sequence"] is not None
    after = await _left_behind(db)
    assert after["pid"] == before["pid"], "the pool of one must have reused the connection"
    assert after == before
    assert after["temp_table"] is None and after["temp_sequence"] is None
    assert not await _lastval_is_defined(db)  # DISCARD SEQUENCES
    assert await probe(db) == clean


async def test_the_pool_resets_a_connection_given_back_without_the_session_end(shop: Shop) -> None:
    """The pool skips its DISCARD ALL only for a connection that has just run the combined reset."""
    async with running(settings_for(shop.owner, pool_size=1)) as server:
        db = database(server)
        clean = await probe(db)
        pool = await db._ready(Deadline(10))
        conn = await pool.acquire()
        await conn.execute("SET work_mem = '7MB'; PREPARE warden_left AS SELECT 1; SELECT pg_advisory_lock(4247)")
        await pool.release(conn)
        assert await probe(db) == clean


@pytest.mark.parametrize("end", ["ROLLBACK; SELECT 1/0", "ROLLBACK; SELECT pg_sleep(3)"])
async def test_a_connection_whose_reset_fails_is_dropped(shop: Shop, monkeypatch: pytest.MonkeyPatch, end: str) -> None:
    """An error or a hang in the session end terminates the connection: it never goes back dirty."""
    async with running(settings_for(shop.owner, pool_size=1)) as server:
        db = database(server)
        first = await probe(db)
        monkeypatch.setattr(client, "END_SQL", end)
        monkeypatch.setattr(client, "CLEANUP_SECONDS", 0.5)
        async with db.session(Deadline(10)) as conn:
            await conn.execute("COMMIT; SET work_mem = '7MB'; SELECT pg_advisory_lock(4248)")
        monkeypatch.undo()
        assert db._reset_done == set()
        second = await probe(db)
        assert second["pid"] != first["pid"], "the connection whose reset failed was reused"
        assert {k: v for k, v in second.items() if k != "pid"} == {k: v for k, v in first.items() if k != "pid"}
    conn = await asyncpg.connect(shop.admin)
    try:
        # A terminated connection's backend ends once it next touches the socket (after the sleep).
        for _ in range(100):
            if not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first["pid"]):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the dropped connection's backend is still there")
    finally:
        await conn.close()


async def test_a_call_costs_one_round_trip_to_open_and_one_to_end(shop: Shop) -> None:
    """`SELECT 1` through the executor: open, Parse/Describe, Bind, Execute, end (and no pool reset)."""
    async with RoundTrips(shop.owner) as trips, running(settings_for(trips.dsn, pool_size=1)) as server:
        db = database(server)
        await probe(db)  # connection, start-up and the role check happen before counting
        trips.count = 0
        for _ in range(5):
            await unchecked(db, "SELECT 1")
        assert trips.count == 5 * 5


async def test_schema_names_reach_the_search_path_as_values(shop: Shop) -> None:
    """Quotes and backslashes in a schema name survive the literal quoting of the session start text."""
    odd = ("it's", "back\\slash", 'quo"te')
    async with running(settings_for(shop.owner, schemas=("public", *odd))) as server:
        rows = await unchecked(database(server), "SELECT current_setting('search_path')")
    assert rows.rows == [[client.search_path_value(("public", *odd))]]


class RoundTrips:
    """A TCP relay in front of PostgreSQL that counts round trips: client messages after a server reply.

    It fronts the very server `dsn` names, over TCP or a unix socket (`?host=/dir`, as the embedded
    server's DSN has it), and offers it on a loopback port.
    """

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        query = dict(parse_qsl(parts.query))
        host = query.pop("host", None) or parts.hostname or "localhost"
        port = int(query.pop("port", None) or parts.port or 5432)
        self._socket = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else None
        self._target = (host, port)
        self._parts = parts._replace(query=urlencode(query))
        self.count = 0
        self.dsn = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RoundTrips:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        netloc = self._parts.netloc.rsplit("@", 1)
        self.dsn = urlunsplit(self._parts._replace(netloc=f"{netloc[0]}@127.0.0.1:{port}"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._socket is not None:
            return await asyncio.open_unix_connection(self._socket)
        return await asyncio.open_connection(*self._target)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await self._open()
        last = ["server"]

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: str) -> None:
            try:
                while data := await reader.read(65536):
                    if side == "client" and last[0] != "client":
                        self.count += 1
                    last[0] = side
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_reader, server_writer, "client"), pipe(server_reader, client_writer, "server"))

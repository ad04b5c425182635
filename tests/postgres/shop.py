"""A seeded shop database on a real PostgreSQL, with an owner role and a read-only role, for these tests.

Roles are cluster-global, so their names carry a random suffix and are dropped at the end.
`snapshot` records everything an attack could leave behind, so a test can prove nothing changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import asyncpg

from tests.postgres.corpus import PUBLIC_TRAPS_SQL, SECRETS_SQL, TRAPS_SQL
from tests.support.postgres import scratch_database, with_user

SQL_DIR = Path(__file__).resolve().parents[2] / "servers" / "postgres" / "sql"
SEED = (SQL_DIR / "demo_seed.sql").read_text()
READONLY_ROLE = (SQL_DIR / "readonly_role.sql").read_text()

TABLES = ("customers", "products", "orders", "order_items", "internal.staff_notes", "events", "parent_t")


@dataclass(frozen=True)
class Shop:
    admin: str  # superuser, on the shop database
    owner: str  # owns every table: the over-privileged credential
    readonly: str  # made with readonly_role.sql
    owner_role: str
    readonly_role: str
    database: str


async def run_sql(dsn: str, sql: str) -> None:
    """Fixture SQL written by the tests themselves (several statements): never tool input."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def filled(sql: str, values: dict[str, str]) -> str:
    """`sql` with each `{placeholder}` of `values` replaced (fixture SQL holds braces of its own)."""
    for key, value in values.items():
        sql = sql.replace(key, value)
    return sql


@contextmanager
def shop_database(admin_dsn: str) -> Iterator[Shop]:
    suffix = uuid.uuid4().hex[:8]
    owner, readonly = f"warden_owner_{suffix}", f"warden_ro_{suffix}"
    anyio.run(run_sql, admin_dsn, f"CREATE ROLE {owner} LOGIN")
    try:
        with scratch_database(admin_dsn, prefix="warden_pg") as admin:
            database = urlsplit(admin).path.lstrip("/")
            owner_dsn, readonly_dsn = with_user(admin, owner), with_user(admin, readonly)

            async def setup() -> None:
                await run_sql(
                    admin,
                    f"GRANT CREATE, USAGE ON SCHEMA public TO {owner}; "
                    f'GRANT CREATE ON DATABASE "{database}" TO {owner}',
                )
                await run_sql(owner_dsn, SEED)
                await run_sql(owner_dsn, TRAPS_SQL + "GRANT USAGE ON SCHEMA traps TO PUBLIC;")
                role_sql = READONLY_ROLE.replace("warden_readonly", readonly).replace(
                    "change-me-to-a-long-random-secret", uuid.uuid4().hex
                )
                await run_sql(admin, role_sql)
                # The readonly role may read `internal` too: only the server's schema allowlist keeps it out.
                await run_sql(
                    owner_dsn,
                    f"GRANT USAGE ON SCHEMA internal TO {readonly}; GRANT SELECT ON internal.staff_notes TO {readonly}",
                )
                fill = {"{readonly}": readonly, "{owner}": owner, "{database}": database}
                await run_sql(owner_dsn, filled(PUBLIC_TRAPS_SQL, fill))
                await run_sql(admin, filled(SECRETS_SQL, fill))

            anyio.run(setup)
            yield Shop(admin, owner_dsn, readonly_dsn, owner, readonly, database)
    finally:
        anyio.run(run_sql, admin_dsn, f"DROP ROLE IF EXISTS {owner}; DROP ROLE IF EXISTS {readonly}")


SNAPSHOT_SQL = {
    "tables": """
        SELECT n.nspname || '.' || c.relname, c.relkind::text, c.relfilenode::int8, coalesce(c.relacl::text, ''),
               coalesce(obj_description(c.oid, 'pg_class'), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY 1""",
    "schemas": "SELECT nspname, nspowner::int8 FROM pg_namespace ORDER BY 1",
    "functions": """SELECT p.oid::int8, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1""",
    "statistics": """
        SELECT count(*), md5(coalesce(string_agg(s.starelid::text || ':' || s.staattnum || ':' || s.stanullfrac
                                                 || ':' || s.stadistinct, ','
                                                 ORDER BY s.starelid, s.staattnum, s.stainherit), ''))
        FROM pg_statistic s JOIN pg_class c ON c.oid = s.starelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'internal')""",
    "advisory_locks": """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
    # Client sessions only: an autovacuum worker on the freshly seeded tables is not an attack's trace.
    "relation_locks": """SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                         JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname IN ('public', 'internal') AND l.pid <> pg_backend_pid()
                           AND l.pid NOT IN (SELECT pid FROM pg_stat_activity
                                             WHERE backend_type = 'autovacuum worker')""",
    "prepared_xacts": "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()",
    "large_objects": "SELECT count(*) FROM pg_largeobject_metadata",
    "db_settings": """SELECT coalesce(string_agg(array_to_string(setconfig, ','), ';' ORDER BY setrole), '')
                       FROM pg_db_role_setting
                       WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                          OR setrole IN (SELECT oid FROM pg_roles WHERE rolname = ANY($1::text[]))""",
    "auto_conf": "SELECT md5(pg_read_file('postgresql.auto.conf'))",
    "roles": """SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls
                FROM pg_roles WHERE rolname = ANY($1::text[]) ORDER BY 1""",
    "busy_backends": """SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
                          AND backend_type = 'client backend'""",
}


async def snapshot(shop: Shop, conn: asyncpg.Connection | None = None) -> dict[str, Any]:
    """Everything an attack on the shop could change, as plain data (compare two snapshots with ==).

    Scoped to the shop's database and roles, so other sessions on a shared server cannot disturb it.
    Pass an open superuser connection to take many snapshots quickly.
    """
    own = conn or await asyncpg.connect(shop.admin)
    roles = [shop.owner_role, shop.readonly_role, "warden_evil"]
    try:
        state: dict[str, Any] = {}
        for name, sql in SNAPSHOT_SQL.items():
            args = [roles] if "$1" in sql else []
            state[name] = [tuple(row) for row in await own.fetch(sql, *args)]
        for table in TABLES:
            state[f"rows:{table}"] = await own.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} t"
            )
        for (name,) in await own.fetch(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' AND n.nspname IN ('public', 'internal')"
        ):
            state[f"sequence:{name}"] = tuple(await own.fetchrow(f"SELECT last_value, is_called FROM {name}"))
        return state
    finally:
        if conn is None:
            await own.close()

"""A guided tour of warden-postgres: a real server over stdio, a real PostgreSQL, a readable transcript.

    uv run python scripts/demo.py              # embedded PostgreSQL (pgserver), nothing to install
    WARDEN_DEMO_POSTGRES_DSN=postgresql://postgres@localhost/postgres uv run python scripts/demo.py

With WARDEN_DEMO_POSTGRES_DSN (a superuser DSN) the demo creates its own database and roles there and
drops them afterwards. It loads servers/postgres/sql/demo_seed.sql as a table owner, creates the
read-only role from servers/postgres/sql/readonly_role.sql, starts `python -m warden_postgres
--strict-role` as that role and drives it with the MCP SDK client.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
SQL = ROOT / "servers" / "postgres" / "sql"
WIDTH = 100

# pgserver asks platformdirs for a runtime directory, which a root shell without a login session lacks.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


# --- Transcript. ---------------------------------------------------------------------------------------


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(number: int, title: str) -> None:
    say()
    say(f"{number}. {title}")
    say("-" * (len(title) + 3))


def table(columns: list[str], rows: list[list[Any]], limit: int = 12, width: int = 40) -> None:
    cells = [[_cell(v) for v in row] for row in rows[:limit]]
    widths = [min(width, max([len(c)] + [len(r[i]) for r in cells])) for i, c in enumerate(columns)]
    say("   " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    say("   " + "  ".join("-" * w for w in widths))
    for row in cells:
        say("   " + "  ".join(v[:w].ljust(w) for v, w in zip(row, widths, strict=True)))
    if len(rows) > limit:
        say(f"   ... {len(rows) - limit} more")


def _cell(value: Any) -> str:
    return "null" if value is None else value if isinstance(value, str) else json.dumps(value)


def answer(result: Any) -> dict[str, Any]:
    """Show a refused call the way the model sees it; return the structured result otherwise."""
    if result.is_error:
        say(f"   server answered (isError): {result.content[0].text}")
        return {}
    return dict(result.structured_content or {})


# --- A database to play with. -------------------------------------------------------------------


def with_user(dsn: str, user: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@contextmanager
def postgres() -> Iterator[tuple[str, str]]:
    """A superuser DSN, and where it comes from."""
    configured = os.environ.get("WARDEN_DEMO_POSTGRES_DSN")
    if configured:
        yield configured, "the PostgreSQL in WARDEN_DEMO_POSTGRES_DSN"
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="warden-demo-") as data:
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            yield server.get_uri(), "an embedded PostgreSQL (pgserver) in a temporary directory"
        finally:
            server.cleanup()


async def _run(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)  # the demo's own set-up SQL, never tool input
    finally:
        await conn.close()


@asynccontextmanager
async def shop(admin: str) -> AsyncIterator[tuple[str, str]]:
    """A seeded shop database; yields the read-only role's DSN and the database name."""
    suffix = uuid.uuid4().hex[:8]
    database, owner, reader = f"warden_demo_{suffix}", f"warden_demo_owner_{suffix}", f"warden_demo_ro_{suffix}"
    await _run(admin, f'CREATE DATABASE "{database}"')
    await _run(admin, f"CREATE ROLE {owner} LOGIN")
    try:
        shop_admin = with_database(admin, database)
        await _run(
            shop_admin,
            f'GRANT CREATE, USAGE ON SCHEMA public TO {owner}; GRANT CREATE ON DATABASE "{database}" TO {owner}',
        )
        await _run(with_user(shop_admin, owner), (SQL / "demo_seed.sql").read_text())
        role_sql = (SQL / "readonly_role.sql").read_text().replace("warden_readonly", reader)
        await _run(shop_admin, role_sql.replace("change-me-to-a-long-random-secret", uuid.uuid4().hex))
        yield with_user(shop_admin, reader), database
    finally:
        await _run(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await _run(admin, f"DROP ROLE IF EXISTS {reader}; DROP ROLE IF EXISTS {owner}")


# --- The tour. --------------------------------------------------------------------------------------


async def tour(client: Client) -> None:
    heading(1, "Discover the tools")
    listed = await client.list_tools()
    for tool in listed.tools:
        say(f"   {tool.name:<18} {re.split(r'(?<=[a-z)])[.] ', tool.description or '')[0]}.")
    size = len(
        json.dumps(
            [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in listed.tools], separators=(",", ":")
        )
    )
    say(f"   ({len(listed.tools)} tools, {size} characters of tools/list, whatever the number of databases)")

    heading(2, "Look around: pg_list_schemas and pg_list_tables")
    schemas = answer(await client.call_tool("pg_list_schemas", {}))
    say(
        f"   databases: {', '.join(schemas['databases'])}; readable schemas: "
        + ", ".join(s["name"] for s in schemas["schemas"])
        + "  (schema `internal` exists but is not allowlisted)"
    )
    tables = answer(await client.call_tool("pg_list_tables", {"schema": "public"}))
    table(
        ["table", "kind", "rows", "comment"],
        [[t["name"], t["kind"], t["row_estimate"], t["comment"]] for t in tables["tables"]],
    )

    heading(3, "Describe a table: pg_describe_table public.orders")
    orders = answer(await client.call_tool("pg_describe_table", {"schema": "public", "table": "orders"}))
    table(
        ["column", "type", "nullable", "default / comment"],
        [[c["name"], c["type"], c["nullable"], c["default"] or c["comment"] or ""] for c in orders["columns"]],
    )
    say(f"   primary key: {orders['primary_key']}")
    for fk in orders["foreign_keys"]:
        target = f"{fk['references']}{fk['referenced_columns']}"
        say(f"   foreign key: {fk['columns']} -> {target} on delete {fk['on_delete']}")
    say(f"   indexes: {', '.join(i['name'] for i in orders['indexes'])}")

    heading(4, "Run a query, with a bind parameter: best customers")
    sql = (
        "SELECT c.full_name, c.country, count(DISTINCT o.id) AS orders, sum(i.quantity * i.unit_price) AS revenue\n"
        "FROM customers c JOIN orders o ON o.customer_id = c.id JOIN order_items i ON i.order_id = o.id\n"
        "WHERE o.status <> $1 GROUP BY 1, 2 ORDER BY revenue DESC LIMIT 5"
    )
    say("   " + sql.replace("\n", "\n   ") + "      params: ['cancelled']")
    best = answer(await client.call_tool("pg_query", {"sql": sql, "params": ["cancelled"]}))
    table([f"{c['name']} ({c['type']})" for c in best["columns"]], best["rows"])
    say(f"   {best['row_count']} rows in {best['elapsed_ms']:.0f} ms; numeric comes back as exact strings")

    heading(5, "A hundred million rows stay small")
    say("   SELECT * FROM generate_series(1, 100000000)")
    started = time.perf_counter()
    big = answer(await client.call_tool("pg_query", {"sql": "SELECT * FROM generate_series(1, 100000000)"}))
    say(
        f"   {big['row_count']} rows, truncated={big['truncated']} ({big['truncation']}), "
        f"{time.perf_counter() - started:.2f} s round trip"
    )

    heading(6, "Writes and escapes are refused")
    attacks = [
        "COMMIT; DROP TABLE customers",
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        "SELECT * FROM pg_read_file('/etc/passwd')",
        "SELECT U&\"s\\0065tval\"('orders_id_seq', 1)",
        "SET statement_timeout = 0",
        "SELECT * FROM internal.staff_notes",
    ]
    for attack in attacks:
        say(f"   > {attack}")
        answer(await client.call_tool("pg_query", {"sql": attack}))
    still = answer(await client.call_tool("pg_query", {"sql": "SELECT count(*) FROM customers"}))
    say(f"   customers still has {still['rows'][0][0]} rows.")

    heading(7, "Data is data, even when it reads like an instruction")
    note = answer(await client.call_tool("pg_query", {"sql": "SELECT id, note FROM orders WHERE note LIKE 'IGNORE%'"}))
    table(["id", "note"], note["rows"], width=WIDTH)
    say("   The text comes back inside `rows`, as data; the server never treats it as instructions.")


async def main() -> int:
    started = time.perf_counter()
    with postgres() as (admin, where), tempfile.TemporaryDirectory(prefix="warden-demo-audit-") as logs:
        say("warden-postgres demo")
        say("=" * 20)
        say(f"Database: {where}. Loading the demo shop and creating a read-only role ...")
        async with shop(admin) as (readonly_dsn, database):
            audit = Path(logs) / "audit.jsonl"
            env = {
                "PATH": os.environ.get("PATH", ""),
                "WARDEN_POSTGRES_DSN": readonly_dsn,
                "WARDEN_POSTGRES_LOG_LEVEL": "WARNING",
                "WARDEN_POSTGRES_AUDIT_SINK": str(audit),
            }
            params = StdioServerParameters(
                command=sys.executable, args=["-m", "warden_postgres", "--strict-role"], env=env
            )
            say(f"Starting `python -m warden_postgres --strict-role` over stdio, as the read-only role, on {database}.")
            async with Client(params) as client:
                await tour(client)
            events = [json.loads(line) for line in audit.read_text().splitlines()]
            denied = sum(1 for e in events if e.get("decision") == "deny")
            say()
            say(f"The server wrote {len(events)} audit events ({denied} denials) to its audit sink.")
    say(f"Demo finished in {time.perf_counter() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))

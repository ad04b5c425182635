"""Drive the executor below layer 1: validation bypassed (`analysis=None`), as the over-privileged owner."""

from __future__ import annotations

import sys
from typing import Any

from warden_core import WardenError, WardenServer
from warden_postgres.client import Database, Deadline, Limits, Rows

LIMITS = Limits(max_rows=100, max_bytes=200_000, max_value_bytes=50_000)

PROBE_SQL = """
SELECT pg_backend_pid() AS pid, current_user AS "user", session_user AS session,
       current_setting('application_name') AS application, current_setting('work_mem') AS work_mem,
       current_setting('statement_timeout') AS statement_timeout,
       current_setting('default_transaction_read_only') AS default_read_only,
       current_setting('transaction_read_only') AS read_only,
       (SELECT count(*) FROM pg_listening_channels()) AS listening,
       (SELECT count(*) FROM pg_prepared_statements WHERE name NOT LIKE '\\_\\_asyncpg%') AS prepared,
       (SELECT count(*) FROM pg_cursors WHERE name <> '' AND name NOT LIKE '\\_\\_asyncpg%') AS cursors,
       (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory_locks
"""


def database(server: WardenServer) -> Database:
    return server.databases.get(None)  # type: ignore[attr-defined, no-any-return]


async def unchecked(db: Database, sql: str, *, seconds: float = 10.0, limits: Limits = LIMITS) -> Rows:
    """Layers 2-5 only: the statement goes to the executor with validation bypassed."""
    return await db.run(sql, [], analysis=None, limits=limits, deadline=Deadline(seconds))


async def attempt(db: Database, sql: str, **kwargs: Any) -> WardenError | Rows:
    """Run and return the refusal instead of raising it."""
    try:
        return await unchecked(db, sql, **kwargs)
    except WardenError as exc:
        return exc


async def probe(db: Database) -> dict[str, Any]:
    rows = await unchecked(db, PROBE_SQL)
    return dict(zip([c.name for c in rows.columns], rows.rows[0], strict=True))


def report(line: str) -> None:
    """A measured figure, on stderr (shown with `pytest -s`): performance is reported, never asserted."""
    sys.stderr.write(f"\n[measured] {line}\n")

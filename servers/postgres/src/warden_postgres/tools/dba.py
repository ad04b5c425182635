"""DBA tools (group `dba`, off by default): top statements, sessions and locks, health checks, index advice.

Every statement here is the server's own: constant text with bound arguments, run in the same read-only
session, under the same deadline and with the same role (ROLE_MAP) as pg_query's. Only pg_index_advice runs
caller SQL, and that goes through every check pg_explain applies. Two extensions' functions are called by these
fixed statements alone (validator.SERVER_ONLY): tool SQL may never call them.

What shows:
- objects (tables, indexes, sequences, locked relations) only in schemas the allowlist admits; the rest is
  left out and counted in `notes`;
- sessions and statements of the current database only;
- query texts as PostgreSQL shows them to the role (other roles' texts need pg_read_all_stats), cut to
  QUERY_CHARS, with invisible characters stripped. When the allowlist does not admit every schema, a text is
  shown only if it is DML (SELECT, INSERT, UPDATE, DELETE, MERGE) and every table it names, and every schema it
  qualifies a function or type with, lies in an admitted schema or the catalogs, as PostgreSQL's parser reads
  it; any other text (DDL, GRANT, a text cut short that no longer parses) is withheld. The core's egress filter
  masks credentials in what remains, as in every result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from pydantic import Field

from warden_core import Access, Budget, NotFound, ToolSpec, strip_invisible
from warden_core.audit import note_target
from warden_core.results import Lean, Row
from warden_postgres import errors, parse_guard, validator
from warden_postgres.tools.common import DatabaseArg, ToolContext
from warden_postgres.tools.query import ParamsArg, explain_statement
from warden_postgres.validator import CATALOG_SCHEMAS, quote_ident

GROUP = "dba"

QUERY_CHARS = 2000
"""Longest query text shown; longer ones are cut (and then, under a schema allowlist, usually withheld)."""

INSUFFICIENT = "<insufficient privilege>"
READ_ALL_STATS = (
    "to see other roles' sessions and statements, grant pg_read_all_stats (or pg_monitor) to the server's role"
)

# --- Results. -------------------------------------------------------------------------------------


class Report(Lean):
    database: str
    kind: str
    items: list[dict[str, Any]] = Field(description="One object per finding.")
    notes: list[str] | None = Field(None, description="What is left out, and why.")
    truncated: bool


class Candidate(Row):
    index: str = Field(description="CREATE INDEX")
    cost: float = Field(description="total cost with it")
    reduction_pct: float
    used: bool = Field(description="the plan uses it")


class Advice(Lean):
    database: str
    cost: float = Field(description="Planner's total cost without the candidates.")
    candidates: list[Candidate]
    recommended: str | None = Field(None, description="The candidate worth creating, if any.")
    notes: list[str] | None = None


# --- Query texts and the schema allowlist. ----------------------------------------------------------


DML = ("SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")
"""Statements whose text may show under a schema allowlist: other statements (DDL, GRANT, ...) name schemas,
roles and objects in ways a table check cannot follow."""


def named_relations(text: str) -> tuple[set[tuple[str | None, str]], bool]:
    """The tables (and qualified functions and types) a statement text names, as (schema or None, name), and
    whether the text could be checked: it parses, and holds only DML statements (DML)."""
    from pglast import ast

    try:
        tree = parse_guard.parse(text)
    except Exception:  # a cut text, another dialect, too complex: it cannot be checked
        return set(), False
    if not tree or any(type(raw.stmt).__name__ not in DML for raw in tree):
        return set(), False
    found: set[tuple[str | None, str]] = set()
    ctes: set[str] = set()
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if not isinstance(node, ast.Node):
            continue
        if isinstance(node, ast.RangeVar) and node.relname:
            found.add((node.schemaname or None, node.relname))
        elif isinstance(node, ast.CommonTableExpr) and node.ctename:
            ctes.add(node.ctename)
        elif isinstance(node, ast.FuncCall | ast.TypeName):
            parts = [
                getattr(part, "sval", "")
                for part in (node.funcname if isinstance(node, ast.FuncCall) else node.names) or ()
            ]
            if len(parts) >= 2:
                found.add((parts[-2], parts[-1]))
        for attr in type(node).__slots__:
            value = getattr(node, attr, None)
            if isinstance(value, ast.Node | list | tuple):
                stack.append(value)
    return {(schema, name) for schema, name in found if schema is not None or name not in ctes}, True


VISIBLE_NAMES_SQL = """
SELECT DISTINCT c.relname AS name, n.nspname AS schema
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = ANY($1::text[])
"""


def _allowed(ctx: ToolContext, schema: str) -> bool:
    """Whether objects of this schema may show: the catalogs, and what the schema allowlist admits."""
    return schema in CATALOG_SCHEMAS or ctx.schemas.allows(schema)


class Texts:
    """Decides which query texts a result may show (see the module), and notes what it withheld."""

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx = ctx
        self.parsed: dict[str, tuple[set[tuple[str | None, str]], bool]] = {}
        self.admitted_names: set[str] = set()
        self.withheld = 0
        self.hidden = 0

    def _allowed(self, schema: str) -> bool:
        return _allowed(self.ctx, schema)

    async def learn(self, conn: Any, texts: Iterable[str | None], deadline: Any) -> None:
        """Parse the texts and look up, once, which unqualified names exist in an admitted schema."""
        if self.ctx.schemas.unrestricted:
            return
        names: set[str] = set()
        for text in texts:
            if text is None or text == INSUFFICIENT or text in self.parsed:
                continue
            self.parsed[text] = await parse_guard.off_the_loop(len(text), named_relations, text)
            names |= {name for schema, name in self.parsed[text][0] if schema is None}
        if names:
            rows = await conn.fetch(VISIBLE_NAMES_SQL, sorted(names), timeout=deadline.remaining())
            self.admitted_names |= {row["name"] for row in rows if self._allowed(row["schema"])}

    def show(self, text: str | None) -> str | None:
        if text is None:
            return None
        if text == INSUFFICIENT:
            self.hidden += 1
            return None
        if not self.ctx.schemas.unrestricted:
            relations, parsed = self.parsed.get(text, (set(), False))
            admitted = parsed and all(
                self._allowed(schema) if schema is not None else name in self.admitted_names
                for schema, name in relations
            )
            if not admitted:
                self.withheld += 1
                return None
        text = strip_invisible(text)
        return text if len(text) <= QUERY_CHARS else text[:QUERY_CHARS] + "…"

    def notes(self) -> list[str]:
        notes = []
        if self.hidden:
            notes.append(f"{self.hidden} query texts hidden by PostgreSQL: {READ_ALL_STATS}")
        if self.withheld:
            notes.append(
                f"{self.withheld} query texts withheld: they name tables outside the schema allowlist, or could "
                f"not be checked ({self.ctx.schemas.setting})"
            )
        return notes


# --- Running the server's own statements. ---------------------------------------------------------


async def _read(ctx: ToolContext, database: str | None, work: Callable[[Any, Any], Any]) -> Any:
    """`work(conn, deadline)` in one read-only session of the database, through its breaker."""
    db = ctx.databases.get(database)

    async def read() -> Any:
        deadline = ctx.deadline()
        async with db.session(deadline) as conn:
            try:
                return await work(conn, deadline)
            except BaseException as exc:
                raise errors.translate(exc, db.name) from None

    result = await db.backend.call(read)
    note_target(db.name)
    return db.name, result


def _report(ctx: ToolContext, database: str, kind: str, items: list[dict[str, Any]], notes: list[str]) -> Report:
    budget = Budget(ctx.settings.max_output_bytes - 2048 - sum(len(n) for n in notes))
    kept = []
    for found in items:
        item = {key: value for key, value in found.items() if value is not None}
        if not budget.admit(item):
            break
        kept.append(item)
    return Report(database=database, kind=kind, items=kept, notes=notes or None, truncated=budget.truncated)


def _relation(schema: str | None, name: str | None) -> str | None:
    if schema is None or name is None:
        return None
    return strip_invisible(f"{schema}.{name}")


def _outside(count: int, what: str, ctx: ToolContext) -> list[str]:
    return [f"{count} {what} outside the schema allowlist not shown ({ctx.schemas.setting})"] if count else []


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


EXTENSION_SQL = """
SELECT n.nspname AS schema, e.extversion AS version
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = $1
"""


async def _extension(conn: Any, name: str, deadline: Any) -> str | None:
    """The schema the extension is installed in (quoted for SQL), or None."""
    row = await conn.fetchrow(EXTENSION_SQL, name, timeout=deadline.remaining())
    return None if row is None else quote_ident(row["schema"])


# --- pg_top_queries. --------------------------------------------------------------------------------

ORDERS = {
    "total_time": "s.total_exec_time",
    "mean_time": "s.mean_exec_time",
    "calls": "s.calls",
    "rows": "s.rows",
    "io": "s.shared_blks_read + s.local_blks_read + s.temp_blks_read",
}

TOP_SQL = """
SELECT s.queryid, r.rolname AS role, s.calls, s.total_exec_time, s.mean_exec_time, s.rows,
  s.shared_blks_hit, s.shared_blks_read, s.temp_blks_written, s.query
FROM {ext}.pg_stat_statements(true) AS s
LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
ORDER BY {order} DESC NULLS LAST
LIMIT $1
"""

PROBE_SQL = "SELECT 1 FROM {ext}.pg_stat_statements(false) LIMIT 1"

NO_STATEMENTS = (
    "pg_stat_statements is not installed in database {db!r}. To enable it: add pg_stat_statements to "
    "shared_preload_libraries in postgresql.conf and restart PostgreSQL, then run CREATE EXTENSION "
    "pg_stat_statements in this database (as its owner or a superuser)."
)
NOT_LOADED = (
    "pg_stat_statements is installed in database {db!r} but not loaded: add pg_stat_statements to "
    "shared_preload_libraries in postgresql.conf and restart PostgreSQL."
)


async def top_queries(ctx: ToolContext, database: str | None, order_by: str, limit: int) -> Report:
    texts = Texts(ctx)

    async def work(conn: Any, deadline: Any) -> Any:
        ext = await _extension(conn, "pg_stat_statements", deadline)
        if ext is None:
            return NO_STATEMENTS
        import asyncpg

        try:
            await conn.fetch(PROBE_SQL.format(ext=ext), timeout=deadline.remaining())
        except asyncpg.ObjectNotInPrerequisiteStateError:
            return NOT_LOADED
        sql = TOP_SQL.format(ext=ext, order=ORDERS[order_by])
        rows = await conn.fetch(sql, limit, timeout=deadline.remaining())
        await texts.learn(conn, (row["query"] for row in rows), deadline)
        return rows

    name, rows = await _read(ctx, database, work)
    if isinstance(rows, str):
        raise NotFound(rows.format(db=name))
    items = [
        {
            "query": texts.show(row["query"]),
            "queryid": None if row["queryid"] is None else str(row["queryid"]),  # 64 bits: JSON numbers lose them
            "role": row["role"],
            "calls": row["calls"],
            "total_ms": round(row["total_exec_time"], 3),
            "mean_ms": round(row["mean_exec_time"], 3),
            "rows": row["rows"],
            "cache_hit_pct": _pct(row["shared_blks_hit"], row["shared_blks_hit"] + row["shared_blks_read"]),
            "temp_blocks_written": row["temp_blks_written"] or None,
        }
        for row in rows
    ]
    return _report(ctx, name, order_by, items, texts.notes())


def _pct(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * float(part) / float(whole), 1)


# --- pg_activity. -----------------------------------------------------------------------------------

SESSIONS_SQL = """
SELECT a.pid, a.usename::text AS role, a.application_name AS application, a.state,
  a.wait_event_type || ':' || a.wait_event AS waiting_on,
  EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - a.query_start) AS query_seconds,
  EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - a.xact_start) AS transaction_seconds,
  pg_catalog.pg_blocking_pids(a.pid) AS blocked_by, a.query
FROM pg_catalog.pg_stat_activity a
WHERE a.datname = pg_catalog.current_database() AND a.pid <> pg_catalog.pg_backend_pid()
  AND (a.backend_type = 'client backend' OR a.backend_type IS NULL)  -- NULL: another role's, details hidden
ORDER BY a.xact_start NULLS LAST, a.pid
LIMIT 1000
"""

LOCKS_SQL = """
SELECT l.pid, l.locktype, l.mode, l.granted, n.nspname AS schema, c.relname AS relation,
  l.transactionid::text AS transaction_id, l.virtualxid AS virtual_transaction,
  EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - l.waitstart) AS waiting_seconds
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid <> pg_catalog.pg_backend_pid()
  AND (l.database IS NULL OR l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                           WHERE d.datname = pg_catalog.current_database()))
  AND l.pid IN (SELECT a.pid FROM pg_catalog.pg_stat_activity a WHERE a.datname = pg_catalog.current_database())
  AND NOT (l.locktype = 'virtualxid' AND l.granted)
ORDER BY l.granted, l.pid, l.locktype
LIMIT 1000
"""

KINDS = ("active", "locks", "blocking", "long_transactions")


async def activity(ctx: ToolContext, database: str | None, kind: str, min_seconds: float | None) -> Report:
    texts = Texts(ctx)
    threshold = min_seconds if min_seconds is not None else (60.0 if kind == "long_transactions" else 0.0)

    async def work(conn: Any, deadline: Any) -> Any:
        if kind == "locks":
            return await conn.fetch(LOCKS_SQL, timeout=deadline.remaining())
        rows = await conn.fetch(SESSIONS_SQL, timeout=deadline.remaining())
        await texts.learn(conn, (row["query"] for row in rows), deadline)
        return rows

    name, rows = await _read(ctx, database, work)
    notes: list[str] = []
    items: list[dict[str, Any]] = []
    if kind == "locks":
        outside = 0
        for row in rows:
            if row["schema"] is not None and not _allowed(ctx, row["schema"]):
                outside += 1
                continue
            items.append(
                {
                    "pid": row["pid"],
                    "locktype": row["locktype"],
                    "mode": row["mode"],
                    "granted": row["granted"],
                    "relation": _relation(row["schema"], row["relation"]),
                    "transaction_id": row["transaction_id"],
                    "waiting_seconds": _seconds(row["waiting_seconds"]),
                }
            )
        return _report(ctx, name, kind, items, _outside(outside, "locks on objects", ctx))

    def session(row: Any, **extra: Any) -> dict[str, Any]:
        return {
            "pid": row["pid"],
            "role": row["role"],
            "application": strip_invisible(row["application"]) if row["application"] else None,
            "state": row["state"],
            "waiting_on": row["waiting_on"],
            "query_seconds": _seconds(row["query_seconds"]),
            "transaction_seconds": _seconds(row["transaction_seconds"]),
            **extra,
            "query": texts.show(row["query"]),
        }

    if kind == "active":
        items = [
            session(row)
            for row in rows
            if row["state"] not in (None, "idle") and (row["query_seconds"] or 0) >= threshold
        ]
    elif kind == "long_transactions":
        items = [session(row) for row in rows if (row["transaction_seconds"] or -1) >= threshold]
    else:  # blocking: every session that waits for another or holds one up, with the chain's links
        blocked_by = {row["pid"]: list(row["blocked_by"] or ()) for row in rows}
        blocking: dict[int, list[int]] = {}
        for pid, blockers in blocked_by.items():
            for blocker in blockers:
                blocking.setdefault(blocker, []).append(pid)
        for row in rows:
            pid = row["pid"]
            if blocked_by[pid] or pid in blocking:
                items.append(
                    session(
                        row,
                        blocked_by=blocked_by[pid] or None,
                        blocking=sorted(blocking.get(pid, ())) or None,
                        chain_root=_root(pid, blocked_by),
                    )
                )
        items.sort(key=lambda item: (item["chain_root"], bool(item.get("blocked_by")), item["pid"]))
    notes = texts.notes()
    unseen = sum(1 for row in rows if row["state"] is None)
    if unseen and kind != "blocking":
        notes.append(f"{unseen} sessions of other roles are not shown: PostgreSQL hides their state; {READ_ALL_STATS}")
    return _report(ctx, name, kind, items, notes)


def _root(pid: int, blocked_by: dict[int, list[int]]) -> int:
    """The session at the head of pid's blocking chain (the first blocker, followed up; cycles stop)."""
    seen = {pid}
    while blocked_by.get(pid):
        pid = blocked_by[pid][0]
        if pid in seen:
            break
        seen.add(pid)
    return pid


# --- pg_health. -------------------------------------------------------------------------------------

CHECKS = ("bloat", "indexes", "vacuum", "wraparound", "sequences", "connections", "replication")

BLOAT_SQL = """
SELECT s.schemaname AS schema, s.relname AS name, s.n_live_tup AS live, s.n_dead_tup AS dead,
  pg_catalog.pg_table_size(s.relid) AS size
FROM pg_catalog.pg_stat_user_tables s
WHERE s.n_dead_tup >= 1000 AND s.n_dead_tup >= 0.2 * (s.n_live_tup + s.n_dead_tup)
ORDER BY s.n_dead_tup DESC
LIMIT 500
"""

INDEXES_SQL = """
WITH ix AS (
  SELECT i.indexrelid, i.indrelid, n.nspname AS schema, c.relname AS table_name, ic.relname AS index_name,
    i.indisvalid, i.indisready, i.indisunique, i.indisprimary, i.indisexclusion,
    pg_catalog.pg_relation_size(i.indexrelid) AS size,
    pg_catalog.pg_stat_get_numscans(i.indexrelid) AS scans,
    pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
    (i.indrelid::text || ' ' || i.indkey::text || ' ' || i.indclass::text || ' ' || i.indcollation::text || ' '
     || coalesce(pg_catalog.pg_get_expr(i.indexprs, i.indrelid), '') || ' '
     || coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid), '')) AS signature
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
)
SELECT ix.*,
  (SELECT pg_catalog.array_agg(o.index_name ORDER BY o.index_name) FROM ix o
   WHERE o.signature = ix.signature AND o.indexrelid <> ix.indexrelid AND o.indisvalid) AS duplicates
FROM ix
ORDER BY ix.schema, ix.table_name, ix.index_name
LIMIT 5000
"""

VACUUM_SQL = """
SELECT s.schemaname AS schema, s.relname AS name, s.n_live_tup AS live, s.n_dead_tup AS dead,
  s.n_mod_since_analyze AS modified,
  EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - GREATEST(s.last_vacuum, s.last_autovacuum)) AS vacuum_age,
  EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - GREATEST(s.last_analyze, s.last_autoanalyze)) AS analyze_age,
  s.n_dead_tup > pg_catalog.current_setting('autovacuum_vacuum_threshold')::float8
    + pg_catalog.current_setting('autovacuum_vacuum_scale_factor')::float8 * GREATEST(c.reltuples, 0) AS needs_vacuum,
  s.n_mod_since_analyze > pg_catalog.current_setting('autovacuum_analyze_threshold')::float8
    + pg_catalog.current_setting('autovacuum_analyze_scale_factor')::float8 * GREATEST(c.reltuples, 0)
    AS needs_analyze
FROM pg_catalog.pg_stat_user_tables s JOIN pg_catalog.pg_class c ON c.oid = s.relid
ORDER BY GREATEST(s.last_vacuum, s.last_autovacuum) NULLS FIRST, s.n_dead_tup DESC
LIMIT 5000
"""

WRAPAROUND_SQL = """
SELECT NULL::text AS schema, NULL::text AS name, pg_catalog.age(d.datfrozenxid) AS xid_age,
  pg_catalog.mxid_age(d.datminmxid) AS mxid_age,
  pg_catalog.current_setting('autovacuum_freeze_max_age')::int8 AS freeze_max_age
FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()
UNION ALL
SELECT * FROM (
  SELECT n.nspname, c.relname, pg_catalog.age(c.relfrozenxid), pg_catalog.mxid_age(c.relminmxid),
    pg_catalog.current_setting('autovacuum_freeze_max_age')::int8
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm', 't') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%'
  ORDER BY pg_catalog.age(c.relfrozenxid) DESC
  LIMIT 2000
) AS t
"""

SEQUENCES_SQL = """
SELECT s.schemaname AS schema, s.sequencename AS name, s.data_type::text AS type, s.last_value, s.min_value,
  s.max_value, s.increment_by, s.cycle
FROM pg_catalog.pg_sequences s
ORDER BY 1, 2
LIMIT 5000
"""

CONNECTIONS_SQL = """
SELECT
  (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a
   WHERE a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datid IS NOT NULL)) AS used,
  pg_catalog.current_setting('max_connections')::int4 AS max_connections,
  pg_catalog.current_setting('superuser_reserved_connections')::int4 AS reserved,
  (SELECT pg_catalog.json_object_agg(coalesce(x.state, 'unknown'), x.n) FROM (
     SELECT a.state, pg_catalog.count(*) AS n FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datid IS NOT NULL)
     GROUP BY a.state) AS x)::text AS by_state,
  (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a
   WHERE (a.backend_type = 'client backend' OR a.backend_type IS NULL)
     AND a.datname = pg_catalog.current_database()) AS this_database
"""

REPLICATION_SQL = """
SELECT 'standby' AS kind, r.application_name AS name, r.state, r.sync_state,
  pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn)::int8 AS lag_bytes,
  EXTRACT(EPOCH FROM r.replay_lag) AS lag_seconds, NULL::bool AS active
FROM pg_catalog.pg_stat_replication r
WHERE NOT pg_catalog.pg_is_in_recovery()
UNION ALL
SELECT 'slot', s.slot_name::text, s.slot_type, s.wal_status,
  CASE WHEN NOT pg_catalog.pg_is_in_recovery()
    THEN pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::int8 END,
  NULL, s.active
FROM pg_catalog.pg_replication_slots s
UNION ALL
SELECT 'this server', CASE WHEN pg_catalog.pg_is_in_recovery() THEN 'standby' ELSE 'primary' END, NULL, NULL,
  CASE WHEN pg_catalog.pg_is_in_recovery()
    THEN pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn())::int8
  END,
  CASE WHEN pg_catalog.pg_is_in_recovery()
    THEN EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - pg_catalog.pg_last_xact_replay_timestamp()) END,
  NULL
LIMIT 1000
"""

CHECK_SQL = {
    "bloat": BLOAT_SQL,
    "indexes": INDEXES_SQL,
    "vacuum": VACUUM_SQL,
    "wraparound": WRAPAROUND_SQL,
    "sequences": SEQUENCES_SQL,
    "connections": CONNECTIONS_SQL,
    "replication": REPLICATION_SQL,
}

PER_CHECK = 50
"""Most findings of one check (before the byte budget)."""

SEQUENCE_WARN = 0.75
"""A sequence that has used this share of its range is reported."""


async def health(ctx: ToolContext, database: str | None, check: str) -> Report:
    chosen = CHECKS if check == "all" else (check,)

    async def work(conn: Any, deadline: Any) -> Any:
        return {name: await conn.fetch(CHECK_SQL[name], timeout=deadline.remaining()) for name in chosen}

    name, results = await _read(ctx, database, work)
    items: list[dict[str, Any]] = []
    notes: list[str] = []

    def allowed(schema: str) -> bool:
        return _allowed(ctx, schema)

    for each in chosen:
        found, outside = _HEALTH[each](results[each], allowed)
        notes += _outside(outside, f"{each} findings on objects", ctx)
        items += [{"check": each, **item} for item in found[:PER_CHECK]]
        if len(found) > PER_CHECK:
            notes.append(f"{each}: {len(found) - PER_CHECK} more findings not shown")
    return _report(ctx, name, check, items, notes)


Found = tuple[list[dict[str, Any]], int]


def _scoped(rows: Iterable[Any], allowed: Callable[[str], bool]) -> tuple[list[Any], int]:
    rows = list(rows)
    kept = [row for row in rows if row["schema"] is None or allowed(row["schema"])]
    return kept, len(rows) - len(kept)


def _bloat(rows: list[Any], allowed: Callable[[str], bool]) -> Found:
    kept, outside = _scoped(rows, allowed)
    found = []
    for row in kept:
        total = row["live"] + row["dead"]
        found.append(
            {
                "table": _relation(row["schema"], row["name"]),
                "dead_tuples": row["dead"],
                "dead_pct": _pct(row["dead"], total),
                "size_bytes": row["size"],
                "bloat_bytes_estimate": int(row["size"] * row["dead"] / total) if total else None,
            }
        )
    return found, outside


def _indexes(rows: list[Any], allowed: Callable[[str], bool]) -> Found:
    kept, outside = _scoped(rows, allowed)
    found = []
    for row in kept:
        common = {
            "table": _relation(row["schema"], row["table_name"]),
            "index": strip_invisible(row["index_name"]),
            "size_bytes": row["size"],
            "definition": strip_invisible(row["definition"]),
        }
        if not row["indisvalid"]:
            problem = "invalid (a failed CREATE INDEX CONCURRENTLY?): drop it and create it again"
            found.append({"problem": "invalid", **common, "advice": problem})
        elif row["duplicates"]:
            # Every copy is named by the others; report the pair once, from the first name.
            if row["index_name"] > min(row["duplicates"]):
                continue
            found.append(
                {
                    "problem": "duplicate",
                    **common,
                    "same_as": [strip_invisible(n) for n in row["duplicates"]],
                    "advice": "identical indexes: keep one",
                }
            )
        elif row["scans"] == 0 and not (row["indisunique"] or row["indisprimary"] or row["indisexclusion"]):
            found.append({"problem": "unused", **common, "advice": "never scanned since the statistics were reset"})
    order = {"invalid": 0, "duplicate": 1, "unused": 2}
    found.sort(key=lambda item: (order[item["problem"]], -(item["size_bytes"] or 0)))
    return found, outside


def _vacuum(rows: list[Any], allowed: Callable[[str], bool]) -> Found:
    kept, outside = _scoped(rows, allowed)
    found = [
        {
            "table": _relation(row["schema"], row["name"]),
            "dead_tuples": row["dead"],
            "modified_since_analyze": row["modified"],
            "vacuum_age_seconds": _seconds(row["vacuum_age"]),
            "analyze_age_seconds": _seconds(row["analyze_age"]),
            "needs_vacuum": row["needs_vacuum"],
            "needs_analyze": row["needs_analyze"],
        }
        for row in kept
    ]
    found.sort(key=lambda item: not item["needs_vacuum"] and not item["needs_analyze"])
    return found, outside


WRAP_LIMIT = 2**31 - 1


def _wraparound(rows: list[Any], allowed: Callable[[str], bool]) -> Found:
    kept, outside = _scoped(rows, allowed)
    found = []
    for row in kept:
        found.append(
            {
                "scope": "database" if row["name"] is None else "table",
                "table": _relation(row["schema"], row["name"]),
                "xid_age": row["xid_age"],
                "mxid_age": row["mxid_age"],
                "pct_to_wraparound": _pct(row["xid_age"], WRAP_LIMIT),
                "pct_to_forced_autovacuum": _pct(row["xid_age"], row["freeze_max_age"]),
            }
        )
    return found[:11], outside  # the database, then its oldest tables


def _sequences(rows: list[Any], allowed: Callable[[str], bool]) -> Found:
    kept, outside = _scoped(rows, allowed)
    found = []
    unreadable = 0
    for row in kept:
        if row["last_value"] is None:
            unreadable += 1  # never used, or the role lacks USAGE/SELECT on it
            continue
        ascending = row["increment_by"] > 0
        span = row["max_value"] - row["min_value"]
        used = (row["last_value"] - row["min_value"]) if ascending else (row["max_value"] - row["last_value"])
        share = used / span if span else 1.0
        if share < SEQUENCE_WARN:
            continue
        found.append(
            {
                "sequence": _relation(row["schema"], row["name"]),
                "type": row["type"],
                "last_value": row["last_value"],
                "limit": row["max_value"] if ascending else row["min_value"],
                "used_pct": round(100.0 * share, 2),
                "cycles": row["cycle"],
                "advice": None if row["cycle"] else "ALTER SEQUENCE ... AS bigint (and the column) before it runs out",
            }
        )
    found.sort(key=lambda item: -item["used_pct"])
    return found, outside


def _connections(rows: list[Any], allowed: Callable[[str], bool]) -> Found:
    row = rows[0]
    usable = row["max_connections"] - row["reserved"]
    return [
        {
            "used": row["used"],
            "max_connections": row["max_connections"],
            "reserved_for_superusers": row["reserved"],
            "used_pct": _pct(row["used"], usable),
            "this_database": row["this_database"],
            "by_state": json.loads(row["by_state"]) if row["by_state"] else {},
        }
    ], 0


def _replication(rows: list[Any], allowed: Callable[[str], bool]) -> Found:
    return [
        {
            "kind": row["kind"],
            "name": strip_invisible(row["name"]) if row["name"] else None,
            "state": row["state"],
            "detail": row["sync_state"],
            "lag_bytes": row["lag_bytes"],
            "lag_seconds": _seconds(row["lag_seconds"]),
            "active": row["active"],
        }
        for row in rows
    ], 0


_HEALTH: dict[str, Callable[[list[Any], Callable[[str], bool]], Found]] = {
    "bloat": _bloat,
    "indexes": _indexes,
    "vacuum": _vacuum,
    "wraparound": _wraparound,
    "sequences": _sequences,
    "connections": _connections,
    "replication": _replication,
}


# --- pg_index_advice. ---------------------------------------------------------------------------------

TABLE_COLUMNS_SQL = """
SELECT n.nspname AS schema, c.relname AS name, a.attname AS column_name
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_opclass o ON o.opcintype = a.atttypid AND o.opcdefault
JOIN pg_catalog.pg_am m ON m.oid = o.opcmethod AND m.amname = 'btree'
WHERE c.relkind IN ('r', 'm') AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""

MAX_CANDIDATES = 8
SCANS = ("Seq Scan", "Bitmap Heap Scan")
CONDITIONS = ("Filter", "Hash Cond", "Merge Cond", "Join Filter", "Recheck Cond", "Sort Key")
_IDENT = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')

NO_HYPOPG = (
    "hypopg is not installed in database {db!r}, so hypothetical indexes cannot be tried. To enable it: install "
    "the package (Debian/Ubuntu: postgresql-<version>-hypopg), then run CREATE EXTENSION hypopg in this "
    "database. pg_explain still shows the current plan."
)


def _plan_tables(plan: Any) -> dict[tuple[str, str], set[str]]:
    """The tables the plan scans without an index, with the identifiers of the conditions around each scan."""
    found: dict[tuple[str, str], set[str]] = {}

    def words(node: dict[str, Any]) -> set[str]:
        text = " ".join(
            " ".join(value) if isinstance(value, list) else str(value)
            for key, value in node.items()
            if key in CONDITIONS
        )
        return {(quoted.replace('""', '"') if quoted else bare) for quoted, bare in _IDENT.findall(text)}

    def visit(node: dict[str, Any], around: set[str]) -> None:
        mine = words(node)
        if node.get("Node Type") in SCANS and "Relation Name" in node and "Schema" in node:
            found.setdefault((node["Schema"], node["Relation Name"]), set()).update(mine | around)
        for child in node.get("Plans", ()):
            visit(child, around | mine)

    for statement in plan if isinstance(plan, list) else [plan]:
        visit(statement["Plan"], set())
    return found


def _cost(plan: Any) -> float:
    return float((plan[0] if isinstance(plan, list) else plan)["Plan"]["Total Cost"])


def _parse_plan(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def index_advice(ctx: ToolContext, sql: str, params: list[Any] | None, database: str | None) -> Advice:
    db = ctx.databases.get(database)
    analysis = await parse_guard.off_the_loop(len(sql), explain_statement, sql, analyze=False, verbose=True)
    validator.precheck(analysis, db.rules)  # a refusal comes before any word about the extension
    notes: list[str] = []

    async def installed(conn: Any, deadline: Any) -> str | None:
        return await _extension(conn, "hypopg", deadline)

    _, ext = await _read(ctx, database, installed)
    if ext is None:
        raise NotFound(NO_HYPOPG.format(db=db.name))
    max_bytes = 4 * ctx.settings.max_output_bytes + 1024 * 1024
    (baseline,) = await db.backend.call(
        lambda: db.compare(
            analysis, params or [], variants=[], reset="SELECT 1", max_bytes=max_bytes, deadline=ctx.deadline()
        )
    )
    baseline = _parse_plan(baseline)
    tables = {key: cols for key, cols in _plan_tables(baseline).items() if _allowed(ctx, key[0])}

    async def columns(conn: Any, deadline: Any) -> Any:
        keys = sorted(tables)
        return await conn.fetch(
            TABLE_COLUMNS_SQL, [k[0] for k in keys], [k[1] for k in keys], timeout=deadline.remaining()
        )

    candidates: list[str] = []
    if tables:
        _, rows = await _read(ctx, database, columns)
        by_table: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            key = (row["schema"], row["name"])
            if row["column_name"] in tables.get(key, ()) and row["column_name"] not in by_table.get(key, []):
                by_table.setdefault(key, []).append(row["column_name"])
        for (schema, table), cols in sorted(by_table.items()):
            target = f"{quote_ident(schema)}.{quote_ident(table)}"
            options = [[col] for col in sorted(cols)[:4]]
            if 1 < len(cols) <= 3:
                options.append(sorted(cols))
            candidates += [f"CREATE INDEX ON {target} ({', '.join(quote_ident(c) for c in o)})" for o in options]
    candidates = candidates[:MAX_CANDIDATES]
    cost = _cost(baseline)
    note_target(db.name)
    if not candidates:
        notes.append("no table is scanned without an index under a condition on its own columns: nothing to try")
        return Advice(database=db.name, cost=cost, candidates=[], notes=notes)
    # The extension's schema comes from the catalog, quoted; the candidate goes in as a bound argument.
    create = f"SELECT indexname FROM {ext}.hypopg_create_index($1)"  # noqa: S608
    reset = f"SELECT {ext}.hypopg_reset()"
    plans = await db.backend.call(
        lambda: db.compare(
            analysis,
            params or [],
            variants=[[(create, (candidate,))] for candidate in candidates],
            reset=reset,
            max_bytes=max_bytes,
            deadline=ctx.deadline(),
        )
    )
    results = []
    for candidate, value in zip(candidates, plans[1:], strict=True):
        plan = _parse_plan(value)
        with_cost = _cost(plan)
        results.append(
            Candidate(
                index=candidate,
                cost=round(with_cost, 2),
                reduction_pct=round(100.0 * (cost - with_cost) / cost, 1) if cost else 0.0,
                used=_hypothetical_used(plan),
            )
        )
    results.sort(key=lambda c: (c.cost, len(c.index)))
    best = next((c for c in results if c.used and c.reduction_pct >= 10), None)
    if best is None:
        notes.append("no candidate lowers the plan's cost by 10 % or more")
    return Advice(
        database=db.name,
        cost=round(cost, 2),
        candidates=results,
        recommended=best.index if best else None,
        notes=notes or None,
    )


def _hypothetical_used(plan: Any) -> bool:
    """Whether a plan scans a hypothetical index (hypopg names them `<oid>btree_...`)."""
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            name = node.get("Index Name")
            if isinstance(name, str) and re.match(r"<\d+>", name):
                return True
            stack.extend(node.values())
    return False


# --- Tools. ---------------------------------------------------------------------------------------

KindArg = Annotated[
    Literal["active", "locks", "blocking", "long_transactions"],
    Field(description="active: sessions not idle; locks; blocking: who waits for whom; long_transactions."),
]
MinSecondsArg = Annotated[
    float | None,
    Field(description="Only statements (active) or transactions (long_transactions) this old; default 0 / 60.", ge=0),
]
CheckArg = Annotated[
    Literal["all", "bloat", "indexes", "vacuum", "wraparound", "sequences", "connections", "replication"],
    Field(description="Which check; `all` runs every one."),
]
SelectArg = Annotated[
    str, Field(description="The SELECT to advise on (the query itself, not EXPLAIN).", min_length=1, max_length=100_000)
]
OrderArg = Annotated[Literal["total_time", "mean_time", "calls", "rows", "io"], Field(description="Rank by.")]
TopLimitArg = Annotated[int, Field(description="How many statements.", ge=1, le=100)]


def specs(ctx: ToolContext) -> list[ToolSpec]:
    async def pg_top_queries(
        order_by: OrderArg = "total_time", limit: TopLimitArg = 10, database: DatabaseArg = None
    ) -> Report:
        return await top_queries(ctx, database, order_by, limit)

    async def pg_activity(
        kind: KindArg = "active", min_seconds: MinSecondsArg = None, database: DatabaseArg = None
    ) -> Report:
        return await activity(ctx, database, kind, min_seconds)

    async def pg_health(check: CheckArg = "all", database: DatabaseArg = None) -> Report:
        return await health(ctx, database, check)

    async def pg_index_advice(sql: SelectArg, params: ParamsArg = None, database: DatabaseArg = None) -> Advice:
        return await index_advice(ctx, sql, params, database)

    return [
        ToolSpec(
            name="pg_top_queries",
            title="Top statements",
            description=(
                "The most expensive statements of this database from pg_stat_statements: calls, total and mean "
                "time, rows, cache hit rate. Says how to enable the extension when it is missing."
            ),
            handler=pg_top_queries,
            group=GROUP,
            access=Access.READ,
            open_world=False,
        ),
        ToolSpec(
            name="pg_activity",
            title="Sessions and locks",
            description=(
                "Sessions of this database now: those not idle (running, or idle in a transaction) with their "
                "statements, locks held and awaited, blocking chains (blocked_by/blocking, chain_root), or "
                "long-open transactions."
            ),
            handler=pg_activity,
            group=GROUP,
            access=Access.READ,
            open_world=False,
        ),
        ToolSpec(
            name="pg_health",
            title="Health checks",
            description=(
                "Health checks: table bloat (dead tuples), invalid, duplicate and unused indexes, vacuum and "
                "analyze age, transaction-id wraparound, sequences near their limit, connections vs "
                "max_connections, replication lag."
            ),
            handler=pg_health,
            group=GROUP,
            access=Access.READ,
            open_world=False,
        ),
        ToolSpec(
            name="pg_index_advice",
            title="Index advice",
            description=(
                "Try hypothetical indexes (hypopg) for one SELECT: the plan's cost without and with each candidate "
                "index on the columns it filters, joins or sorts a full scan by. Nothing is created."
            ),
            handler=pg_index_advice,
            group=GROUP,
            access=Access.READ,
            open_world=False,
        ),
    ]

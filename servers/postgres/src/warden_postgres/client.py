"""The one place that talks to PostgreSQL: pools, sessions and statement execution.

Layers 2 to 5 live here, each in its own function so tests can drive it alone:

2. `Database.run` sends tool SQL only with `prepare` and a portal (`cursor().fetch(n)`): the
   extended query protocol, which carries exactly one statement. Tool text never goes through
   `execute()` (the simple protocol, which runs every `;`-separated statement) nor `copy_*`.
3. `Database.session` opens the server's own read-only transaction and pins statement_timeout,
   lock_timeout, idle_in_transaction_session_timeout, the search_path, default_transaction_read_only
   and standard_conforming_strings with transaction-local `set_config` (also the connection's
   start-up values), all in one simple-protocol message whose text is built once per Database from
   the settings alone (`session_start_sql`); tool text never joins it. The session always ends with
   one message too (`END_SQL`): ROLLBACK, then PostgreSQL's documented equivalent of DISCARD ALL
   (CLOSE ALL, SET SESSION AUTHORIZATION DEFAULT, RESET ALL, DEALLOCATE ALL, UNLISTEN *,
   pg_advisory_unlock_all, DISCARD PLANS/TEMP/SEQUENCES). Only a connection that has just run it
   goes back to the pool without the pool's own DISCARD ALL; any failure drops the connection.
   The statement cache is off, so nothing depends on server-side prepared statements surviving.
4. A `Deadline` per call bounds pool acquisition and every driver call (`timeout=`); when it
   passes, asyncpg sends a cancel request, so no backend keeps running. No SQL can move it.
5. Rows stream from a server-side portal in chunks sized so one chunk stays within a few MiB;
   reading stops at the row cap, the byte budget, or the deadline. Values bigger than the value
   cap are measured and dropped by the server (the statement is wrapped in a measuring SELECT),
   so a 300 MB value never reaches this process.

Connections are created lazily: the server starts and lists its tools without a database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from warden_core import (
    Allowlist,
    Budget,
    InvalidArgument,
    NotConfigured,
    PermissionDenied,
    Timeout,
    attribution,
    json_size,
)
from warden_core.resilience import Backend, ResiliencePolicy
from warden_postgres import errors, role, streaming, validator, values
from warden_postgres.settings import MAIN, Settings
from warden_postgres.validator import Analysis, CatalogPolicy, quote_ident

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger(__name__)

BEGIN_SQL = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
END_SQL = (
    "ROLLBACK;"
    # PostgreSQL's documented equivalent of DISCARD ALL, which itself cannot share a message with
    # ROLLBACK (it refuses to run in a transaction block, and a multi-statement message is one).
    " CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *;"
    " SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES"
)
RESET_SQL = "DISCARD ALL"
"""The pool's own reset, for a connection handed back without END_SQL (no such path exists today)."""

CLEANUP_SECONDS = 5.0
"""Longest the rollback and reset of a connection may take before the connection is dropped."""

CHUNK_BYTES = 4 * 1024 * 1024
"""Upper bound of one fetch from the portal, from the row size the column types allow."""

MAX_COLUMNS = 1600
MAX_OMITTED = 100


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


class Deadline:
    """The client-side deadline of one call. It starts before the pool is asked for a connection."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self) -> Timeout:
        return Timeout(f"the call did not finish within {self.seconds:g} s; the statement was cancelled")


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass
class Rows:
    """What a statement returned, within the caps."""

    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False
    reasons: list[str] = field(default_factory=list)
    omitted: list[dict[str, Any]] = field(default_factory=list)

    def stop(self, reason: str) -> None:
        self.truncated = True
        if reason not in self.reasons:
            self.reasons.append(reason)


@dataclass(frozen=True)
class Limits:
    max_rows: int
    max_bytes: int
    max_value_bytes: int


# --- Connection set-up (per pooled connection). ------------------------------------------------------


async def _init_connection(conn: asyncpg.Connection) -> None:
    # PostgreSQL's own text for intervals: the binary codec folds months into 30-day blocks.
    await conn.set_type_codec("interval", schema="pg_catalog", encoder=str, decoder=str, format="text")


def server_settings(settings: Settings, application: str = "warden-postgres") -> dict[str, str]:
    """Start-up parameters: what RESET (and DISCARD ALL) return the session to."""
    return {
        "application_name": application,
        "default_transaction_read_only": "on",
        "standard_conforming_strings": "on",
        "statement_timeout": _ms(settings.statement_timeout),
        "lock_timeout": _ms(settings.lock_timeout),
        "idle_in_transaction_session_timeout": _ms(settings.idle_in_transaction_timeout),
        "search_path": search_path_value(settings.search_path),
    }


def search_path_value(schemas: Sequence[str]) -> str:
    """The pinned search_path: the allowlisted schemas, then pg_temp last (never first)."""
    return ", ".join([*(quote_ident(s) for s in schemas), "pg_temp"])


def quote_literal(value: str) -> str:
    """A string literal PostgreSQL reads back as `value` whatever standard_conforming_strings says.

    PostgreSQL's own quote_literal: quotes doubled, and an E'' literal with doubled backslashes when
    the value holds one. (The setting cannot help here: a message is parsed before any of it runs.)
    """
    if "\x00" in value:
        raise ValueError("a setting value cannot contain a NUL character")
    quoted = value.replace("'", "''")
    if "\\" in value:
        return "E'" + quoted.replace("\\", "\\\\") + "'"
    return "'" + quoted + "'"


def local_settings(settings: Settings) -> dict[str, str]:
    """What every transaction pins with SET LOCAL semantics (the start-up values, set again)."""
    return {
        "statement_timeout": _ms(settings.statement_timeout),
        "lock_timeout": _ms(settings.lock_timeout),
        "idle_in_transaction_session_timeout": _ms(settings.idle_in_transaction_timeout),
        "search_path": search_path_value(settings.search_path),
        "default_transaction_read_only": "on",
        # The validator parses with standard strings; the server must read backslashes the same way.
        "standard_conforming_strings": "on",
    }


def session_start_sql(settings: Settings) -> str:
    """BEGIN and the transaction's settings as one message, built only from the server's settings.

    One simple-protocol round trip. The text is constant for a Database (no tool input reaches it);
    the values are quoted literals, so a schema name with quotes or backslashes stays a value.
    """
    calls = ", ".join(
        f"pg_catalog.set_config({quote_literal(name)}, {quote_literal(value)}, true)"
        for name, value in local_settings(settings).items()
    )
    return f"{BEGIN_SQL}; SELECT {calls}"


def with_application_name(start_sql: str, name: str | None) -> str:
    """The session start, also naming the MCP request for the transaction (pg_stat_activity, logs, pgaudit).

    `name` is Warden's own (request id and principal, reduced to plain characters by the core's
    attribution) and goes in as a quoted literal; the transaction's end puts the start-up name back.
    """
    if name is None:
        return start_sql
    return f"{start_sql}, pg_catalog.set_config('application_name', {quote_literal(name)}, true)"


# --- One configured database. ------------------------------------------------------------------------


class Database:
    """One named database: its lazy pool, its role check, and statement execution."""

    def __init__(self, name: str, dsn: str, settings: Settings, schemas: Allowlist) -> None:
        self.name = name
        self._dsn = dsn
        self.settings = settings
        self.catalog_policy = CatalogPolicy(
            search_path=settings.search_path,
            allows_schema=schemas.allows,
            schema_setting=schemas.setting,
        )
        policy = ResiliencePolicy.from_settings(settings)
        # The core's deadline is the backstop; the call's own Deadline (backend_timeout) fires first
        # and leaves room for the cleanup, so a cancelled statement is never retried by the backstop.
        self.backend = Backend(
            f"database {name!r}",
            dataclasses.replace(policy, timeout=settings.backend_timeout + CLEANUP_SECONDS + 1),
        )
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._start_sql = session_start_sql(settings)
        # Backend pids of connections `_release` has just reset with END_SQL, on their way back into
        # the pool: the pool's own reset skips exactly these, and runs DISCARD ALL on any other.
        self._reset_done: set[int] = set()
        self.role_report: role.RoleReport | None = None

    # --- Pool and role check. --------------------------------------------------------------------
    async def _ready(self, deadline: Deadline) -> asyncpg.Pool:
        if self._pool is None or self.role_report is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await self._create_pool()
                if self.role_report is None:
                    self.role_report = await self._check_role(self._pool, deadline)
        report = self.role_report
        if self.settings.strict_role and not report.ok:
            raise PermissionDenied(
                f"database {self.name!r} is not served: its role {report.role!r} {'; '.join(report.problems)}. "
                f"Use a read-only role (see the README), or unset {Settings.env_name('strict_role')}, then restart."
            )
        return self._pool

    async def _create_pool(self) -> asyncpg.Pool:
        import asyncpg

        try:
            return await asyncpg.create_pool(
                self._dsn,
                min_size=0,
                max_size=self.settings.pool_size,
                max_inactive_connection_lifetime=60.0,
                init=_init_connection,
                reset=self._pool_reset,
                statement_cache_size=0,
                timeout=self.settings.connect_timeout,
                command_timeout=None,
                server_settings=server_settings(self.settings),
            )
        except BaseException as exc:
            raise errors.translate(exc, self.name, connecting=True) from None

    async def _check_role(self, pool: asyncpg.Pool, deadline: Deadline) -> role.RoleReport:
        async with self._session(pool, deadline) as conn:
            try:
                report = await role.inspect(conn, seconds=deadline.remaining())
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None
        if not report.ok:
            logger.warning(
                "database %r: the role %r is over-privileged: %s. Warden still refuses writes, but the credential "
                "is the first line of defence: use a read-only role (see the README)%s.",
                self.name,
                report.role,
                "; ".join(report.problems),
                "" if self.settings.strict_role else f", or set {Settings.env_name('strict_role')} to refuse it",
            )
        return report

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with anyio.move_on_after(CLEANUP_SECONDS, shield=True) as scope:
                await pool.close()
            if scope.cancelled_caught:
                pool.terminate()

    # --- Layer 3: the session. ------------------------------------------------------------------
    @asynccontextmanager
    async def session(self, deadline: Deadline) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside the server's read-only transaction, rolled back and reset afterwards (END_SQL)."""
        pool = await self._ready(deadline)
        async with self._session(pool, deadline) as conn:
            yield conn

    @asynccontextmanager
    async def _session(self, pool: asyncpg.Pool, deadline: Deadline) -> AsyncIterator[asyncpg.Connection]:
        # Waiting for a connection is contention only when every pooled connection is busy; with room
        # in the pool, the wait was for the database to accept (or to answer) a new connection.
        contended = pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size()
        try:
            conn = await pool.acquire(timeout=deadline.remaining())
        except TimeoutError:
            if not contended:
                raise self._unresponsive(deadline) from None
            raise Timeout(
                f"no connection to database {self.name!r} within {deadline.seconds:g} s "
                "(all pooled connections busy, or the server is slow to accept)"
            ) from None
        except BaseException as exc:
            raise errors.translate(exc, self.name, connecting=True) from None
        broken = False
        try:
            try:
                # One round trip: BEGIN and set_config calls, server-authored text (see session_start_sql).
                start = with_application_name(self._start_sql, attribution.application_name("warden-postgres"))
                await conn.execute(start, timeout=deadline.remaining())
            except TimeoutError:
                # BEGIN and a few set_config calls cannot be slow on a database that answers: it is unreachable, and
                # so is this connection (no ROLLBACK could get through it either).
                broken = True
                raise self._unresponsive(deadline) from None
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None
            yield conn
        finally:
            if broken:
                await self._drop(pool, conn)
            else:
                await self._release(pool, conn)

    def _unresponsive(self, deadline: Deadline) -> TimeoutError:
        """A raw TimeoutError: the core reports it as a timeout and counts it towards the breaker."""
        return TimeoutError(f"database {self.name!r} did not answer within {deadline.seconds:g} s")

    async def _release(self, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        """ROLLBACK and reset in one message (END_SQL), then give the connection back; drop it if that fails."""
        import asyncpg

        try:
            pid = conn.get_server_pid()
        except asyncpg.InterfaceError:
            return  # the connection was lost mid-call, and asyncpg has already given its slot back to the pool
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
            try:
                if not conn.is_closed():
                    await conn.execute(END_SQL, timeout=CLEANUP_SECONDS)
                    self._reset_done.add(pid)
                await pool.release(conn, timeout=CLEANUP_SECONDS)
                return
            except Exception as exc:
                logger.info(
                    "database %r: dropping a connection whose cleanup failed (%s)", self.name, type(exc).__name__
                )
            finally:
                self._reset_done.discard(pid)
        await self._drop(pool, conn)

    async def _pool_reset(self, conn: asyncpg.Connection) -> None:
        """The pool's reset before reuse: nothing after END_SQL, DISCARD ALL otherwise.

        An exception here makes the pool terminate the connection instead of keeping it.
        """
        pid = conn.get_server_pid()
        if pid in self._reset_done:
            self._reset_done.discard(pid)
            return
        await conn.execute(RESET_SQL)

    async def _drop(self, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        """Close the connection without a word to the server, and give its slot back to the pool."""
        import asyncpg

        # A release that failed half-way may already have handed the connection back: then the pool
        # owns it, and neither call applies (asyncpg says so with an InterfaceError).
        with contextlib.suppress(asyncpg.InterfaceError):
            conn.terminate()
        shielded = anyio.CancelScope(shield=True)
        with shielded, anyio.move_on_after(CLEANUP_SECONDS), contextlib.suppress(asyncpg.InterfaceError):
            await pool.release(conn)

    # --- Server-authored catalog SQL. ------------------------------------------------------------
    async def fetch(self, sql: str, *args: Any, deadline: Deadline) -> list[asyncpg.Record]:
        """Run one of the server's own catalog queries (constant SQL, bound arguments) read-only."""
        async with self.session(deadline) as conn:
            try:
                return list(await conn.fetch(sql, *args, timeout=deadline.remaining()))
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None

    # --- Layers 2 and 5: tool SQL. ------------------------------------------------------------------
    async def run(
        self,
        sql: str,
        params: Sequence[Any],
        *,
        analysis: Analysis | None,
        limits: Limits,
        deadline: Deadline,
    ) -> Rows:
        """Run one statement and stream its rows within `limits`.

        `analysis` is the validator's verdict on `sql`; its catalog half runs here, inside the
        transaction. Tests pass `analysis=None` to drive the lower layers with validation bypassed.
        """
        async with self.session(deadline) as conn:
            try:
                if analysis is not None:
                    await validator.check(conn, analysis, self.catalog_policy, seconds=deadline.remaining())
                    analysis = await streaming.rewrite(
                        conn, analysis, self.settings.search_path, seconds=deadline.remaining()
                    )
                    sql = analysis.sql
                statement, columns, args, wrapped = await self._prepare(
                    conn, sql, params, analysis=analysis, limits=limits, deadline=deadline
                )
                return await self._stream(
                    statement, columns, args=args, wrapped=wrapped, limits=limits, deadline=deadline
                )
            except TimeoutError:
                raise deadline.expired() from None
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None

    async def _prepare(
        self,
        conn: asyncpg.Connection,
        sql: str,
        params: Sequence[Any],
        *,
        analysis: Analysis | None,
        limits: Limits,
        deadline: Deadline,
    ) -> tuple[asyncpg.prepared_stmt.PreparedStatement, list[Column], list[Any], bool]:
        # Parse + Describe of exactly one statement: the extended protocol refuses a second one.
        inner = await conn.prepare(sql, timeout=deadline.remaining())
        columns = [Column(attr.name, attr.type.name) for attr in inner.get_attributes()]
        args = values.params_for(params, inner.get_parameters())
        if analysis is None or analysis.kind != "select" or all(values.is_small(c.type) for c in columns):
            return inner, columns, args, False
        if len(columns) > MAX_COLUMNS:
            raise InvalidArgument(f"the query returns {len(columns)} columns; at most {MAX_COLUMNS} are supported")
        measured = await conn.prepare(
            measuring_wrapper(analysis, columns, limits.max_value_bytes), timeout=deadline.remaining()
        )
        return measured, columns, args, True

    async def _stream(
        self,
        statement: asyncpg.prepared_stmt.PreparedStatement,
        columns: list[Column],
        *,
        args: list[Any],
        wrapped: bool,
        limits: Limits,
        deadline: Deadline,
    ) -> Rows:
        result = Rows(columns=columns)
        convert = [values.converter(column.type) for column in columns]
        row_bound = 64 + sum(16 if values.is_small(c.type) else limits.max_value_bytes for c in columns)
        chunk = max(1, min(1000, CHUNK_BYTES // row_bound))
        budget = Budget(limits.max_bytes)
        cursor = await statement.cursor(*args, timeout=deadline.remaining())
        while True:
            want = min(chunk, limits.max_rows - len(result.rows) + 1)
            batch = await cursor.fetch(want, timeout=deadline.remaining())
            for record in batch:
                if len(result.rows) >= limits.max_rows:
                    result.stop("max_rows")
                    return result
                raw = list(record)
                sizes = raw.pop() if wrapped else [None] * len(raw)
                row = [fn(value) for fn, value in zip(convert, raw, strict=True)]
                for index, value in enumerate(row):
                    size = sizes[index]
                    if size is None and not wrapped and value is not None and json_size(value) > limits.max_value_bytes:
                        size, row[index] = json_size(value), None
                    if size is not None:
                        result.stop("max_value_bytes")
                        if len(result.omitted) < MAX_OMITTED:
                            result.omitted.append(
                                {"row": len(result.rows), "column": columns[index].name, "bytes": size}
                            )
                if not budget.admit(row):
                    result.stop("max_output_bytes")
                    return result
                result.rows.append(row)
            if len(batch) < want:
                return result


def measuring_wrapper(analysis: Analysis, columns: list[Column], cap: int) -> str:
    """The statement inside a SELECT that drops (and reports the size of) values over `cap` bytes.

    The validated text is embedded unchanged between line breaks; the wrapper is re-parsed and its
    subquery must be the very statement that was validated, or nothing runs.
    """
    from pglast import ast, parse_sql

    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    picks, sizes = [], []
    for i, column in enumerate(columns):
        if values.is_small(column.type):
            picks.append(f"q.c{i}")
            sizes.append("NULL::pg_catalog.int4")
            continue
        if column.type in {"text", "varchar", "bpchar", "bytea"}:
            measure = f"pg_catalog.octet_length(q.c{i})"
        else:
            measure = f"pg_catalog.octet_length(q.c{i}::pg_catalog.text)"
        picks.append(f"CASE WHEN {measure} <= {int(cap)} THEN q.c{i} END")
        sizes.append(f"CASE WHEN {measure} > {int(cap)} THEN {measure} END")
    sql = (
        f"SELECT {', '.join(picks)}, ARRAY[{', '.join(sizes)}]::pg_catalog.int4[]\n"
        f"FROM (\n{analysis.sql}\n) AS q({aliases})"
    )
    parsed: Any = parse_sql(sql)
    subquery = parsed[0].stmt.fromClause[0] if len(parsed) == 1 else None
    if not isinstance(subquery, ast.RangeSubselect) or not validator.same_statement(subquery.subquery, analysis.tree):
        raise InvalidArgument("the statement cannot be measured safely; simplify it")
    return sql


# --- All configured databases. ---------------------------------------------------------------------


class Databases:
    """The named databases of this server, created from the settings; none is contacted until used."""

    def __init__(self, settings: Settings, schemas: Allowlist) -> None:
        self.settings = settings
        self._by_name = {name: Database(name, dsn, settings, schemas) for name, dsn in settings.named_dsns().items()}

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    @property
    def default(self) -> str | None:
        return self.settings.default_database_name

    def get(self, name: str | None) -> Database:
        if not self._by_name:
            raise NotConfigured(Settings.env_name("dsn"), "the database connection")
        chosen = name or self.default
        if chosen is None or chosen not in self._by_name:
            raise InvalidArgument(f"unknown database {chosen!r}; this server has {', '.join(self._by_name)}")
        return self._by_name[chosen]

    def all(self) -> list[Database]:
        return list(self._by_name.values())

    async def aclose(self) -> None:
        for database in self._by_name.values():
            await database.aclose()


# --- Start-up role check (strict mode). ----------------------------------------------------------


async def _preflight_one(dsn: str, settings: Settings) -> role.RoleReport:
    import asyncpg

    conn = await asyncpg.connect(
        dsn,
        timeout=settings.connect_timeout,
        statement_cache_size=0,
        server_settings=server_settings(settings, "warden-postgres role check"),
    )
    try:
        async with conn.transaction(readonly=True):
            return await role.inspect(conn, seconds=settings.connect_timeout)
    finally:
        await conn.close(timeout=CLEANUP_SECONDS)


def preflight(settings: Settings) -> dict[str, role.RoleReport | BaseException]:
    """Check every configured database's role now, on a private event loop in a worker thread.

    Used at start-up with strict_role, so it works whether or not the caller runs an event loop.
    A database that cannot be reached maps to its (sanitized) error: its check is deferred to first use.
    """
    results: dict[str, role.RoleReport | BaseException] = {}

    async def check_all() -> None:
        for name, dsn in settings.named_dsns().items():
            try:
                results[name] = await _preflight_one(dsn, settings)
            except BaseException as exc:  # reported, not raised: start-up goes on without this database
                results[name] = errors.translate(exc, name, connecting=True)

    thread = threading.Thread(target=asyncio.run, args=(check_all(),), name="warden-postgres-role-check")
    thread.start()
    thread.join()
    return results


__all__ = ["MAIN", "Column", "Database", "Databases", "Deadline", "Limits", "Rows", "preflight"]

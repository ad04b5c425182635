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
4. A `Deadline` per call bounds the wait for a connection, every driver call (`timeout=`) and the
   session as a whole; when it passes, asyncpg sends a cancel request. No SQL can move it. A backend
   still busy CANCEL_GRACE later ignored the request: it is terminated from a separate connection
   and its connection dropped. Connections are shared fairly between principals (`fairshare`).
5. Rows stream from a server-side portal in chunks sized so one chunk stays within a few MiB;
   reading stops at the row cap, the byte budget, or the deadline. Values bigger than the value
   cap are measured and dropped by the server (the statement is wrapped in a measuring SELECT),
   so a 300 MB value never reaches this process; a row too large for the budget is dropped unread
   by the wire reader every pooled connection has (`wire`), which also cuts huge error messages.

Connections are created lazily: the server starts and lists its tools without a database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
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
    Policy,
    Timeout,
    attribution,
    identity,
    json_size,
)
from warden_core.cedar import Resource
from warden_core.identity import IdentityMap
from warden_core.resilience import Backend, ResiliencePolicy
from warden_postgres import (
    errors,
    fairshare,
    parse_guard,
    plan_check,
    reviewed,
    role,
    streaming,
    validator,
    values,
    wire,
)
from warden_postgres.settings import MAIN, Settings
from warden_postgres.validator import Analysis, Rules, quote_ident

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

CANCEL_GRACE = 1.0
"""How long a cancelled statement has to stop before its backend is terminated. A cancel request normally
takes effect within milliseconds: PostgreSQL checks for it at every row and loop iteration."""

TERMINATE_SECONDS = 2.0
"""Longest the separate connection that terminates a backend may take."""

TERMINATE_SQL = "SELECT pg_catalog.pg_terminate_backend($1)"

CHUNK_BYTES = 4 * 1024 * 1024
"""Upper bound of one fetch from the portal, from the row size the column types allow."""

MAX_COLUMNS = 1600
MAX_OMITTED = 100

ROW_BYTES_PER_BUDGET = 8
"""Rows bigger on the wire than this many times the output budget are dropped unread (see `wire`). A row's
JSON is rarely smaller than its wire form: only arrays of small integers (up to 6x) or text made mostly of
invisible characters shrink, so such a row would not have fit the budget anyway."""

MIN_ROW_BYTES = 1024 * 1024

MAX_REMEMBERED = 4096
"""Statements whose need for the plan check's catalog lookups a Database remembers (a hash and a bool each)."""


Prepare = Callable[[str], Awaitable["asyncpg.prepared_stmt.PreparedStatement"]]
"""Parse (and Describe) one statement: `conn.prepare`, or the plan check's prepare, which checks its tree."""


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
    too_large_row: int | None = None
    """Wire size of the row the stream stopped at because it was too large to read (reason `row_bytes`)."""

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
    wire.install(conn)
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
        "log_parameter_max_length_on_error": "0",
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
        # Bind parameters (tool input) never reach the server log with an error, whatever the role or database
        # sets. The only log setting a role may change: the error's own text (which can quote a huge value),
        # the statement and the log levels are the superuser's (see the README).
        "log_parameter_max_length_on_error": "0",
    }


def session_start_sql(settings: Settings, *, check_plans: bool = False) -> str:
    """BEGIN and the transaction's settings as one message, built only from the server's settings.

    One simple-protocol round trip. The text is constant for a Database (no tool input reaches it);
    the values are quoted literals, so a schema name with quotes or backslashes stays a value.
    `check_plans` (sessions that run tool SQL) adds the plan check's start: it switches on the query-tree
    notices and reports, in the command tag, whether the database has type hooks (plan_check.start_sql).
    """
    calls = ", ".join(
        f"pg_catalog.set_config({quote_literal(name)}, {quote_literal(value)}, true)"
        for name, value in local_settings(settings).items()
    )
    start = f"{BEGIN_SQL}; SELECT {calls}"
    return f"{start}; {plan_check.start_sql(settings.function_allowlist)}" if check_plans else start


# --- Per-principal identity (ROLE_MAP): an addition to the session start. -------------------------------

GRANTED_SQL = """
SELECT session_user::text AS login,
       (SELECT r.rolinherit FROM pg_catalog.pg_roles r WHERE r.rolname = session_user) AS inherits,
       (SELECT pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER') FROM pg_catalog.pg_roles r WHERE r.rolname = $1)
         AS member
"""


def session_identity_sql(role: str) -> str:
    """What the session start adds for a mapped principal: its role (ROLE_MAP), transaction-local.

    The ROLLBACK of END_SQL undoes it (and its RESET ALL and SET SESSION AUTHORIZATION DEFAULT would
    anyway). The role comes from ROLE_MAP (checked as a role name at start) and is quoted as an
    identifier. Tool SQL cannot change it: SET and RESET are refused by the validator.
    """
    return f"; SET LOCAL ROLE {quote_ident(role)}"


def start_message(start: str, role: str | None, application: str | None, plan_start: str | None) -> str:
    """The one message that opens a session, in this order: the settings' start (session_start_sql), which
    also names the MCP request (with_application_name), the caller's role (ROLE_MAP, session_identity_sql),
    and the plan check's start (plan_check.start_sql), last because the plan check reads the message's
    command tag. No tool input reaches any of it."""
    text = with_application_name(start, application)
    if role is not None:
        text += session_identity_sql(role)
    if plan_start is not None:
        text += "; " + plan_start
    return text


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
        self.rules = Rules(schemas=schemas, functions=settings.function_allowlist, review=reviewed.load())
        policy = ResiliencePolicy.from_settings(settings)
        # The core's deadline is the backstop; the call's own Deadline (backend_timeout) fires first
        # and leaves room for the cleanup, so a cancelled statement is never retried by the backstop.
        self.backend = Backend(
            f"database {name!r}",
            dataclasses.replace(policy, timeout=settings.backend_timeout + CLEANUP_SECONDS + 1),
        )
        self._pool: asyncpg.Pool | None = None
        self._share = fairshare.FairShare(settings.pool_size)
        self._lock = asyncio.Lock()
        self._start_sql = session_start_sql(settings)
        self._plan_start_sql = plan_check.start_sql(settings.function_allowlist)
        self._plan_scan_sql = plan_check.start_sql(settings.function_allowlist, lookups=False)
        # Whether a statement's plan check asked the catalog last time it ran, by the hash of its text: if not,
        # its next session starts without preparing the lookups (a wrong guess costs one round trip, not a check).
        self._asked_catalog: dict[int, bool] = {}
        # What the catalog says about built-in functions, operators and relations: it never changes.
        self._builtins = plan_check.Facts()
        # Backend pids of connections `_release` has just reset with END_SQL, on their way back into
        # the pool: the pool's own reset skips exactly these, and runs DISCARD ALL on any other.
        self._reset_done: set[int] = set()
        self.role_report: role.RoleReport | None = None
        self.roles = IdentityMap.parse(settings.role_map)
        self._granted: set[str] = set()  # mapped roles checked: granted to the login role, and least privilege

    # --- Pool and role check. --------------------------------------------------------------------
    async def _ready(self, deadline: Deadline) -> asyncpg.Pool:
        if self._pool is None or self.role_report is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await self._create_pool()
                if self.role_report is None:
                    self.role_report = await self._check_role(self._pool, deadline)
        report = self.role_report
        if report.superuser and not self.settings.unsafe_allow_superuser:
            raise PermissionDenied(
                f"database {self.name!r} is not served: its role {report.role!r} {report.superuser}. A superuser "
                "can undo every check from inside PostgreSQL; connect as a read-only role (see the README), or set "
                f"{Settings.env_name('unsafe_allow_superuser')}, then restart."
            )
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
        async with self._session(pool, deadline) as (conn, _):
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
    async def session(self, deadline: Deadline, *, as_login: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside the server's read-only transaction, rolled back and reset afterwards (END_SQL).

        With ROLE_MAP, the transaction runs as the caller's mapped role (unless `as_login`: the
        server's own probes), so the database's own grants decide what the caller sees.
        """
        pool = await self._ready(deadline)
        mapped = None if as_login or not self.roles else await self._mapped_role(pool, deadline)
        async with self._session(pool, deadline, mapped) as (conn, _):
            yield conn

    async def _mapped_role(self, pool: asyncpg.Pool, deadline: Deadline) -> str:
        """The caller's role from ROLE_MAP, checked once per role."""
        principal = identity.current()
        mapped = self.roles.lookup(principal)
        if mapped is None:
            raise PermissionDenied(
                f"no database role is mapped for {principal.acting_id} ({Settings.env_name('role_map')}); "
                "add a rule for this principal or one of its groups, or a `*=role` default"
            )
        if mapped not in self._granted:
            await self._check_granted(pool, mapped, deadline)
        return mapped

    async def _check_granted(self, pool: asyncpg.Pool, mapped: str, deadline: Deadline) -> None:
        """The login role must be a member of a mapped role (SET ROLE needs it); strict_role checks its privileges."""
        async with self._session(pool, deadline) as (conn, _):
            try:
                row = await conn.fetchrow(GRANTED_SQL, mapped, timeout=deadline.remaining())
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None
        assert row is not None
        setting = Settings.env_name("role_map")
        if row["member"] is None:
            raise PermissionDenied(f"database {self.name!r} has no role {mapped!r} ({setting} maps callers to it)")
        if not row["member"]:
            raise PermissionDenied(
                f"database {self.name!r}: role {mapped!r} ({setting}) is not granted to the login role "
                f"{row['login']!r}, so the server cannot switch to it. A DBA grants it with: "
                f"GRANT {quote_ident(mapped)} TO {quote_ident(row['login'])}"
            )
        if row["inherits"]:
            logger.warning(
                "database %r: the login role %r inherits the privileges of the roles it may switch to, so a call "
                "with no role switched would have them all: create it NOINHERIT (see the README)",
                self.name,
                row["login"],
            )
        async with self._session(pool, deadline, mapped) as (conn, _):
            try:
                report = await role.inspect(conn, seconds=deadline.remaining())
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None
        if not report.ok:
            logger.warning("database %r: the mapped role %r is over-privileged: %s", self.name, mapped, report.problems)
            if self.settings.strict_role:
                raise PermissionDenied(
                    f"database {self.name!r}: the mapped role {mapped!r} {'; '.join(report.problems)} "
                    f"({Settings.env_name('strict_role')} is set)"
                )
        self._granted.add(mapped)

    @asynccontextmanager
    async def _session(
        self,
        pool: asyncpg.Pool,
        deadline: Deadline,
        mapped: str | None = None,
        *,
        check_plans: bool = False,
        lookups: bool = True,
    ) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
        """A connection inside the server's transaction, and its start message's command tag, within the
        caller's fair share of the pool.

        `mapped`: the caller's role (ROLE_MAP, see session_identity_sql).
        `check_plans`: the start for tool SQL, which also prepares the plan check (plan_check.start_sql);
        it comes last, since its command tag is the answer the plan check reads. `lookups`: whether that start
        also prepares the plan check's catalog lookups (else the check prepares them if it needs them).
        """
        principal = _principal()
        try:
            with anyio.fail_after(deadline.remaining()):
                await self._share.acquire(principal)
        except TimeoutError:
            raise Timeout(
                f"no connection to database {self.name!r} within {deadline.seconds:g} s (all "
                f"{self._share.size} pooled connections busy; one caller may hold {self._share.cap} at once)"
            ) from None
        try:
            async with self._connection(pool, deadline, mapped, check_plans=check_plans, lookups=lookups) as session:
                yield session
        finally:
            self._share.release(principal)

    @asynccontextmanager
    async def _connection(
        self, pool: asyncpg.Pool, deadline: Deadline, mapped: str | None, *, check_plans: bool, lookups: bool = True
    ) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
        try:
            # The fair share leaves a pooled connection free for this caller: waiting here is waiting for the
            # database to accept a new one.
            conn = await pool.acquire(timeout=deadline.remaining())
        except TimeoutError:
            raise self._unresponsive(deadline) from None
        except BaseException as exc:
            raise errors.translate(exc, self.name, connecting=True) from None
        broken = False
        ended_by: BaseException | None = None
        try:
            try:
                # One round trip of server-authored text (see start_message).
                plan_start = (self._plan_start_sql if lookups else self._plan_scan_sql) if check_plans else None
                application = attribution.application_name("warden-postgres")
                started = await conn.execute(
                    start_message(self._start_sql, mapped, application, plan_start), timeout=deadline.remaining()
                )
            except TimeoutError:
                # BEGIN and a few set_config calls cannot be slow on a database that answers: it is unreachable, and
                # so is this connection (no ROLLBACK could get through it either).
                broken = True
                raise self._unresponsive(deadline) from None
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None
            try:
                # Every driver call passes the time left, but some steps give several queries one fixed budget:
                # the session as a whole ends at the deadline too.
                with anyio.fail_after(deadline.remaining()):
                    yield conn, started
            except TimeoutError:
                raise deadline.expired() from None
        except BaseException as exc:
            ended_by = exc
            raise
        finally:
            if broken:
                await self._drop(pool, conn)
            else:
                await self._release(pool, conn, cancelled=_cancelled(ended_by))

    def _unresponsive(self, deadline: Deadline) -> TimeoutError:
        """A raw TimeoutError: the core reports it as a timeout and counts it towards the breaker."""
        return TimeoutError(f"database {self.name!r} did not answer within {deadline.seconds:g} s")

    async def _release(self, pool: asyncpg.Pool, conn: asyncpg.Connection, *, cancelled: bool = False) -> None:
        """ROLLBACK and reset in one message (END_SQL), then give the connection back; drop it if that fails.

        After a cancelled statement (the deadline passed, or the call was stopped; asyncpg has sent a cancel
        request) the backend has CANCEL_GRACE to stop before END_SQL gives up, else CLEANUP_SECONDS. A backend
        still busy after a cancel request ignored it: it is ended from a separate connection (`_terminate`).
        """
        pid = None
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(CANCEL_GRACE if cancelled else CLEANUP_SECONDS) as cleanup:
                try:
                    # A connection asyncpg saw close is already detached from its proxy: these calls raise then.
                    if not conn.is_closed():
                        pid = conn.get_server_pid()
                        await conn.execute(END_SQL, timeout=CLEANUP_SECONDS)
                        self._reset_done.add(pid)
                    await pool.release(conn, timeout=CLEANUP_SECONDS)
                    return
                except Exception as exc:
                    logger.info(
                        "database %r: dropping a connection whose cleanup failed (%s)", self.name, type(exc).__name__
                    )
                finally:
                    if pid is not None:
                        self._reset_done.discard(pid)
            if cancelled and cleanup.cancelled_caught and pid is not None:
                await self._terminate(pid)
        await self._drop(pool, conn)

    async def _terminate(self, pid: int) -> None:
        """End backend `pid`, one of this server's own that did not stop when asked, from a separate connection.

        PostgreSQL lets a role signal its own role's backends. A cancel request is a signal the backend acts on at
        its next interrupt check; some C code runs long without one (an XPath evaluation in libxml2 ignored both
        signals for 25 s), and nothing short of an operator's kill stops it sooner. Terminated, it exits at that
        next check instead of running on, and its transaction, locks and connection slot go with it.
        """
        import asyncpg

        try:
            with anyio.fail_after(TERMINATE_SECONDS):
                side = await asyncpg.connect(
                    self._dsn,
                    timeout=TERMINATE_SECONDS,
                    statement_cache_size=0,
                    server_settings=server_settings(self.settings, "warden-postgres terminate"),
                )
                try:
                    await side.fetchval(TERMINATE_SQL, pid, timeout=TERMINATE_SECONDS)
                finally:
                    side.terminate()
        except Exception as exc:  # the connection is dropped anyway; the server's own timeouts remain
            logger.warning(
                "database %r: backend %d ignored its cancel request and could not be terminated (%s)",
                self.name,
                pid,
                type(exc).__name__,
            )
            return
        logger.warning("database %r: backend %d ignored its cancel request; terminated it", self.name, pid)

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
    async def fetch(self, sql: str, *args: Any, deadline: Deadline, as_login: bool = False) -> list[asyncpg.Record]:
        """Run one of the server's own catalog queries (constant SQL, bound arguments) read-only."""
        async with self.session(deadline, as_login=as_login) as conn:
            try:
                return list(await conn.fetch(sql, *args, timeout=deadline.remaining()))
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None

    # --- Tool SQL compared under the server's own session changes (hypothetical indexes). ---------------
    async def compare(
        self,
        analysis: Analysis,
        params: Sequence[Any],
        *,
        variants: Sequence[Sequence[tuple[str, tuple[Any, ...]]]],
        reset: str,
        max_bytes: int,
        deadline: Deadline,
    ) -> list[Any]:
        """The single value that one checked statement returns (an EXPLAIN's plan), as is and after each variant.

        The statement is validated, plan-checked and prepared exactly as `run` does it, once. Each variant is a
        list of the server's own statements (constant text, bound arguments) run on the same connection before
        the statement; `reset` (constant text) undoes them after each variant and once more at the end. These
        statements never pass through the tool-SQL checks: they are not tool input, and they may call what tool
        SQL may not (validator.SERVER_ONLY). State they leave outside the transaction (hypopg's hypothetical
        indexes live in the backend's memory, and survive ROLLBACK) must never reach another call: unless the
        final reset succeeds, the connection is closed instead of going back to the pool.
        """
        validator.precheck(analysis, self.rules)
        pool = await self._ready(deadline)
        mapped = await self._mapped_role(pool, deadline) if self.roles else None
        async with self._session(pool, deadline, mapped, check_plans=True) as (conn, started):
            clean = False
            try:
                try:
                    analysis, plan = await self._check(conn, started, analysis, deadline, lookups=True)
                    statement = await plan.prepare(analysis.sql)
                    args = values.params_for(params, statement.get_parameters())
                    results = []
                    limits = Limits(max_rows=1, max_bytes=max_bytes, max_value_bytes=max_bytes)
                    for variant in [(), *variants]:
                        for sql, bound in variant:
                            await conn.fetch(sql, *bound, timeout=deadline.remaining())
                        with _rows_bounded(conn, limits) as dropped:
                            value = await statement.fetchval(*args, timeout=deadline.remaining())
                        if dropped:
                            raise InvalidArgument(f"the result is over {max_bytes:,} bytes; simplify the statement")
                        results.append(value)
                        await conn.fetch(reset, timeout=deadline.remaining())
                    clean = True
                    return results
                finally:
                    if not clean and not conn.is_closed():
                        conn.terminate()  # the session's state is unknown: the connection never serves again
            except TimeoutError:
                raise deadline.expired() from None
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

        `analysis` is the validator's verdict on `sql`; the plan check runs here, inside the transaction,
        on every statement prepared (the statement itself, its streaming form, its measuring wrapper), between
        Parse and Bind. Tests pass `analysis=None` to drive the lower layers with validation bypassed.
        """
        if analysis is not None:
            validator.precheck(analysis, self.rules)  # what the names alone condemn, before any connection
        pool = await self._ready(deadline)
        mapped = await self._mapped_role(pool, deadline) if self.roles else None
        key = hash(sql)
        lookups = self._asked_catalog.get(key, True)
        async with self._session(pool, deadline, mapped, check_plans=analysis is not None, lookups=lookups) as (
            conn,
            started,
        ):
            try:
                prepare: Prepare
                plan: plan_check.PlanCheck | None = None
                if analysis is None:
                    prepare = lambda text: conn.prepare(text, timeout=deadline.remaining())  # noqa: E731
                else:
                    analysis, plan = await self._check(conn, started, analysis, deadline, lookups)
                    prepare, sql = plan.prepare, analysis.sql
                statement, columns, args, wrapped = await self._prepare(
                    prepare, sql, params, analysis=analysis, limits=limits
                )
                if plan is not None:
                    self._remember(key, asked=plan.looked_up)
                with _rows_bounded(conn, limits) as dropped:
                    return await self._stream(
                        statement, columns, args=args, wrapped=wrapped, limits=limits, deadline=deadline, drops=dropped
                    )
            except TimeoutError:
                raise deadline.expired() from None
            except BaseException as exc:
                raise errors.translate(exc, self.name) from None

    async def _check(
        self, conn: asyncpg.Connection, started: str, analysis: Analysis, deadline: Deadline, lookups: bool
    ) -> tuple[Analysis, plan_check.PlanCheck]:
        """Layer 1's second half (plan_check): the statement to run, and the check whose prepare checks each Parse."""
        plan = await plan_check.check(
            conn,
            started,
            analysis,
            rules=self.rules,
            known=self._builtins,
            seconds=deadline.remaining,
            lookups_prepared=lookups,
        )
        return streaming.rewrite(analysis, plan.streams), plan

    def _remember(self, key: int, *, asked: bool) -> None:
        """Note whether a statement's check asked the catalog (what its next session start prepares)."""
        if len(self._asked_catalog) >= MAX_REMEMBERED and key not in self._asked_catalog:
            self._asked_catalog.clear()
        self._asked_catalog[key] = asked

    async def _prepare(
        self,
        prepare: Prepare,
        sql: str,
        params: Sequence[Any],
        *,
        analysis: Analysis | None,
        limits: Limits,
    ) -> tuple[asyncpg.prepared_stmt.PreparedStatement, list[Column], list[Any], bool]:
        # Parse + Describe of exactly one statement: the extended protocol refuses a second one.
        inner = await prepare(sql)
        columns = [Column(attr.name, attr.type.name) for attr in inner.get_attributes()]
        args = values.params_for(params, inner.get_parameters())
        if analysis is None or analysis.kind != "select" or all(values.is_small(c.type) for c in columns):
            return inner, columns, args, False
        if len(columns) > MAX_COLUMNS:
            raise InvalidArgument(f"the query returns {len(columns)} columns; at most {MAX_COLUMNS} are supported")
        # The wrapper is re-parsed: the statement's text, and about 160 characters per column.
        chars = len(analysis.sql) + 160 * len(columns)
        wrapper = await parse_guard.off_the_loop(chars, measuring_wrapper, analysis, columns, limits.max_value_bytes)
        measured = await prepare(wrapper)
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
        drops: list[wire.DroppedRow],
    ) -> Rows:
        """Read rows from a portal within `limits`. `drops` lists the rows the wire reader left out for size."""
        result = Rows(columns=columns)
        convert = [values.converter(column.type) for column in columns]
        row_bound = 64 + sum(16 if values.is_small(c.type) else limits.max_value_bytes for c in columns)
        chunk = max(1, min(1000, CHUNK_BYTES // min(row_bound, row_limit(limits))))
        budget = Budget(limits.max_bytes)
        cursor = await statement.cursor(*args, timeout=deadline.remaining())
        read = 0  # rows the reader passed on so far
        while True:
            want = min(chunk, limits.max_rows - len(result.rows) + 1)
            batch = await cursor.fetch(want, timeout=deadline.remaining())
            if drops:  # keep the rows before the one left out, and stop there
                batch, read = batch[: drops[0].after - read], drops[0].after
            else:
                read += len(batch)
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
            if drops:
                result.stop("row_bytes")
                result.too_large_row = drops[0].size
                return result
            if len(batch) < want:
                return result


def row_limit(limits: Limits) -> int:
    """Largest row read from the wire for a result within `limits`."""
    return max(MIN_ROW_BYTES, ROW_BYTES_PER_BUDGET * limits.max_bytes)


@contextlib.contextmanager
def _rows_bounded(conn: asyncpg.Connection, limits: Limits) -> Iterator[list[wire.DroppedRow]]:
    """While inside, rows over `row_limit` are dropped unread and listed, instead of closing the connection."""
    bounded = wire.reader(conn)
    if bounded is None:  # a connection this module did not set up: asyncpg reads every row whole
        yield []
        return
    with bounded.dropping_rows(row_limit(limits)) as dropped:
        yield dropped


def measuring_wrapper(analysis: Analysis, columns: list[Column], cap: int) -> str:
    """The statement inside a SELECT that drops (and reports the size of) values over `cap` bytes.

    The validated text is embedded unchanged between line breaks; the wrapper is re-parsed and its
    subquery must be the very statement that was validated, or nothing runs.
    """
    from pglast import ast

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
    parsed: Any = parse_guard.parse(sql)
    subquery = parsed[0].stmt.fromClause[0] if len(parsed) == 1 else None
    if not isinstance(subquery, ast.RangeSubselect) or not validator.same_statement(subquery.subquery, analysis.tree):
        raise InvalidArgument("the statement cannot be measured safely; simplify it")
    return sql


def _principal() -> str:
    """Who the current call is for, for the fair share of the pool."""
    return identity.current().acting_id  # the end user behind a trusted gateway, else the caller


def _cancelled(exc: BaseException | None) -> bool:
    """Whether a session ended while its statement may still run: the deadline passed, or the call was stopped.

    asyncpg sends a cancel request in both cases.
    """
    return isinstance(exc, Timeout | TimeoutError | anyio.get_cancelled_exc_class())


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

    def use_policy(self, policy: Policy) -> None:
        """Ask the server's policy file about every table a statement reads (when there is a policy file)."""
        if policy.cedar is None:
            return

        def check_relation(schema: str, name: str) -> None:
            policy.check_resources([Resource("Table", f"{schema}.{name}", (("Schema", schema),))])

        for database in self._by_name.values():
            database.rules = dataclasses.replace(database.rules, check_relation=check_relation)

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

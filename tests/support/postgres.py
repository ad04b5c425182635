"""A real PostgreSQL for tests: the server named by WARDEN_TEST_POSTGRES_DSN, or an embedded one.

The embedded server comes from PyPI's `pgserver` (PostgreSQL 16 in a wheel) and starts in about
half a second, even as root. Tests never skip for want of a database.

The embedded server has no contrib modules. Tests that need them (tablefunc, xml2, dblink, postgres_fdw)
use `contrib_dsn()`: WARDEN_TEST_POSTGRES_DSN if set, else the machine's server at 127.0.0.1:5432; when
neither has the modules, they fail and say how to start one.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ENV = "WARDEN_TEST_POSTGRES_DSN"
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/test"
CONTRIB = ("tablefunc", "xml2", "dblink", "postgres_fdw")
START_LOCAL = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


class ContribUnavailable(RuntimeError):
    """No PostgreSQL with the contrib modules the test needs."""


def contrib_dsn() -> str:
    """A superuser DSN on a PostgreSQL that has CONTRIB: from the environment, else the machine's server."""
    import anyio

    dsn = os.environ.get(ENV) or LOCAL_DSN
    where = ENV if os.environ.get(ENV) else f"{LOCAL_DSN} ({ENV} is not set)"

    async def available() -> set[str]:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            rows = await conn.fetch("SELECT name FROM pg_available_extensions WHERE name = ANY($1::text[])", CONTRIB)
            return {row[0] for row in rows}
        finally:
            await conn.close()

    try:
        found = anyio.run(available)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ContribUnavailable(
            f"these tests need PostgreSQL with contrib at {where}, which cannot be reached "
            f"({type(exc).__name__}: {exc}). Start the machine's server: {START_LOCAL}"
        ) from None
    missing = sorted(set(CONTRIB) - found)
    if missing:
        raise ContribUnavailable(
            f"the PostgreSQL at {where} lacks the contrib modules {', '.join(missing)} "
            "(install postgresql-contrib, or point the variable at a server that has them)"
        )
    return dsn


@contextmanager
def admin_dsn() -> Iterator[str]:
    """A superuser DSN for the session: from the environment, or a freshly started embedded server."""
    configured = os.environ.get(ENV)
    if configured:
        yield configured
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="warden-pg-") as data:
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()
            # pgserver also registers its cleanup to run at exit, where it logs to a stream pytest has
            # closed by then ("--- Logging error ---" after the summary); the server is stopped already.
            atexit.unregister(server._cleanup)


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def with_user(dsn: str, user: str, password: str | None = None) -> str:
    """The same server and database, as another role."""
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = f"{user}:{password}" if password else user
    return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))


@contextmanager
def scratch_database(admin: str, prefix: str = "warden") -> Iterator[str]:
    """A new, empty database for one test session, dropped afterwards. Yields its superuser DSN."""
    import anyio

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    anyio.run(run, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin, name)
    finally:
        anyio.run(run, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

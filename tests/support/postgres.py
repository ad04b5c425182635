"""A real PostgreSQL for tests: the server named by WARDEN_TEST_POSTGRES_DSN, or an embedded one.

The embedded server comes from PyPI's `pgserver` (PostgreSQL 16 in a wheel) and starts in about
half a second, even as root. Tests never skip for want of a database.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ENV = "WARDEN_TEST_POSTGRES_DSN"
MACHINE_DSN = "postgresql://postgres@127.0.0.1:5432/test"
"""The test machine's own PostgreSQL (with contrib and libxml), for tests the embedded server cannot serve."""


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


def contrib_admin_dsn() -> str:
    """A superuser DSN on a full PostgreSQL build (contrib, libxml): the configured server, else the machine's."""
    return os.environ.get(ENV) or MACHINE_DSN


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

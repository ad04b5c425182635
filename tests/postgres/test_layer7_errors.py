"""Layer 7 on its own: what a caller sees of a failure is PostgreSQL's message and SQLSTATE, never secrets.

Each DSN carries a canary password; the canary, the host and the DSN must appear in no tool result, no
log record and no audit line, whatever fails: a role that cannot log in, a database that does not
exist, a port nobody listens on, a privilege the role lacks.
"""

from __future__ import annotations

import logging
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.shop import Shop, run_sql
from warden_core.testing import connect

pytestmark = pytest.mark.anyio


def _with(
    dsn: str, *, user: str | None = None, password: str, port: int | None = None, database: str | None = None
) -> str:
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    netloc = (
        f"{user or parts.username}:{password}@{host}:{port or parts.port or 5432}"
        if host
        else f"{user or parts.username}:{password}@"
    )
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def failure_text(
    dsn: str, sql: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    """The tool's error text, and everything the process wrote (result, logs, audit)."""
    with caplog.at_level(logging.DEBUG):
        async with (
            running(settings_for(dsn, backend_attempts=1, connect_timeout=2.0)) as server,
            connect(server) as client,
        ):
            result = await client.call_tool("pg_query", {"sql": sql})
    assert result.is_error
    text = str(result.content[0].text)
    everything = text + "\n".join(r.getMessage() for r in caplog.records) + capsys.readouterr().err
    return text, everything


@pytest.mark.parametrize("case", ["unknown role", "unknown database", "refused", "permission"])
async def test_failures_never_reveal_the_dsn(
    shop: Shop, case: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = f"canary{uuid.uuid4().hex}"
    sql, expected = "SELECT count(*) FROM customers", ""
    if case == "unknown role":
        dsn, expected = _with(shop.readonly, user="warden_nobody", password=canary), "[SQLSTATE 28000]"
    elif case == "unknown database":
        dsn, expected = _with(shop.readonly, password=canary, database="warden_nowhere"), "[SQLSTATE 3D000]"
    elif case == "refused":
        parts = urlsplit(shop.readonly)
        dsn = f"postgresql://{parts.username}:{canary}@127.0.0.1:{_free_port()}{parts.path}"
        expected = "database 'main' is unavailable: cannot connect: the connection was refused"
    else:
        table = f"secret_{uuid.uuid4().hex[:8]}"
        await run_sql(shop.owner, f"CREATE TABLE {table} (x int)")  # the read-only role gets no grant on it
        dsn, sql = _with(shop.readonly, password=canary), f"SELECT * FROM {table}"
        expected = f"permission denied for table {table} [SQLSTATE 42501]"
    try:
        text, seen = await failure_text(dsn, sql, caplog, capsys)
    finally:
        if case == "permission":
            await run_sql(shop.owner, f"DROP TABLE {sql.rsplit(' ', 1)[1]}")
    assert expected in text
    assert canary not in seen
    assert dsn not in seen
    if case == "refused":
        assert str(urlsplit(dsn).port) not in seen


async def test_a_connection_lost_mid_call_says_so_and_what_to_do(shop: Shop) -> None:
    """The session is terminated while its statement runs (as a restart does): a clear, retryable error."""
    slow = "SELECT count(*) FROM generate_series(1, 2000000000) AS g"
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name LIKE 'warden-postgres%' AND query LIKE '%generate_series(1, 2000000000)%'"
    )
    async with running(settings_for(shop.readonly, backend_attempts=1)) as server, connect(server) as client:
        async with anyio.create_task_group() as tasks:
            results: list[Any] = []

            async def slow_call() -> None:
                results.append(await client.call_tool("pg_query", {"sql": slow}))

            tasks.start_soon(slow_call)
            admin = await asyncpg.connect(shop.admin)
            try:
                with anyio.fail_after(10):
                    while not await admin.fetchval(terminate):  # noqa: ASYNC110  (polling another process)
                        await anyio.sleep(0.05)
            finally:
                await admin.close()
        # The connection is gone, the pool is whole: the next call works.
        after = await client.call_tool("pg_query", {"sql": "SELECT 1 AS one"})
    assert results[0].is_error
    text = str(results[0].content[0].text)
    assert "database 'main' is unavailable: the connection was lost mid-call" in text, text
    assert "try again in a few seconds" in text
    assert "unexpectedly" not in text
    assert not after.is_error

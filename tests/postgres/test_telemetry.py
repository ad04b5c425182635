"""What PostgreSQL and the traces learn about a call: the session names the caller; spans keep shapes only."""

from __future__ import annotations

import asyncpg
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.shop import Shop
from warden_core.testing import connect
from warden_postgres.telemetry import span_name, statement_shape

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        (
            "SELECT * FROM t WHERE email = 'alice@example.com' AND id IN (1, 2)",
            "SELECT * FROM t WHERE email = $1 AND id IN ($2, $3)",
        ),
        ("/* 'secret' */ SELECT 1 -- and 'another'", "SELECT $1"),
        ("SELECT $$dollar secret$$, E'esc', B'101', 1.5e3", "SELECT $1, $2, $3, $4"),
        ("SELECT \"ünïcode\" FROM t WHERE a = 'ä€'", 'SELECT "ünïcode" FROM t WHERE a = $1'),
        (
            "BEGIN READ ONLY; SELECT pg_catalog.set_config('application_name', 'warden-postgres/7/alice', true)",
            "BEGIN READ ONLY; SELECT pg_catalog.set_config($1, $2, $3)",
        ),
        ("SELEC 'not sql'", "…"),
    ],
)
def test_a_statement_keeps_its_shape_and_loses_its_literals_and_comments(sql: str, shape: str) -> None:
    assert statement_shape(sql) == shape


@pytest.mark.parametrize(
    ("name", "sql", "expected"),
    [
        ("SELECT'secret'", statement_shape("SELECT'secret' AS x"), "…"),  # the shape begins SELECT$1: no keyword
        ("--secret", statement_shape("--secret\nSELECT 1"), "SELECT"),
        ("ROLLBACK;", statement_shape("ROLLBACK; CLOSE ALL"), "ROLLBACK"),
        ("CURSOR: select", statement_shape("select 1"), "CURSOR: select"),
    ],
)
def test_span_names_come_from_the_shape(name: str, sql: str, expected: str) -> None:
    assert span_name(name, {"db.statement": sql}) == expected


async def test_the_session_names_the_request_and_principal_then_forgets_them(shop: Shop) -> None:
    async with running(settings_for(shop.readonly, pool_size=1)) as server, connect(server) as client:
        result = await client.call_tool("pg_query", {"sql": "SELECT current_setting('application_name') AS app"})
        assert not result.is_error, result.content
        (app,) = result.structured_content["rows"][0]
        assert app.startswith("warden-postgres/") and app.endswith("/local"), app
        admin = await asyncpg.connect(shop.admin)
        try:  # the pooled connection, idle again, has its start-up name back
            names = await admin.fetch(
                "SELECT application_name FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
                shop.readonly_role,
            )
        finally:
            await admin.close()
    assert [row["application_name"] for row in names] == ["warden-postgres"]

"""PostgreSQL: canaries in text columns and in the database's own error messages never come back, over
memory, stdio and HTTP (a real PostgreSQL, queried through the read-only role)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from tests.egress.canaries import AWS_ID, GHS, PLANTED, VISIBLE, assert_clean
from tests.egress.harness import API_KEY, Calls, in_memory, over_http, over_stdio
from tests.postgres.conftest import settings_for
from tests.postgres.shop import Shop, run_sql, shop_database
from warden_postgres.server import build_server

pytestmark = pytest.mark.anyio

CALLS: Calls = [
    ("pg_query", {"sql": "SELECT id, subject, body FROM public.egress_tickets ORDER BY id"}),
    ("pg_query", {"sql": "SELECT string_agg(body, E'\\n' ORDER BY id) AS everything FROM public.egress_tickets"}),
]
FAILING: Calls = [
    ("pg_query", {"sql": f"SELECT '{GHS}'::int"}),  # the error message quotes the value
    ("pg_query", {"sql": f"SELECT id FROM public.egress_tickets WHERE id = '{AWS_ID}'"}),
]


@pytest.fixture(scope="module")
def shop(pg_admin_dsn: str) -> Iterator[Shop]:
    with shop_database(pg_admin_dsn) as database:
        lines = PLANTED.replace("'", "''").splitlines()
        whole = PLANTED.replace("'", "''")
        rows = ", ".join(f"({index}, 'ticket {index}', '{line}')" for index, line in enumerate(lines))
        anyio.run(
            run_sql,
            database.owner,
            "CREATE TABLE public.egress_tickets (id int PRIMARY KEY, subject text, body text); "
            f"INSERT INTO public.egress_tickets VALUES {rows}, (1000, 'whole', '{whole}'); "
            f"GRANT SELECT ON public.egress_tickets TO {database.readonly_role}",
        )
        yield database


def check(answers: Any, failed: Any) -> None:
    answers.check(CALLS)
    assert VISIBLE in answers.wire and "[masked" in answers.wire
    assert all(result.get("isError") for result in failed.results), "the failing queries really failed"
    assert_clean({"answers": answers.wire, "errors": failed.wire})


async def test_in_memory_both_eras(shop: Shop, era: str, capfd: pytest.CaptureFixture[str]) -> None:
    server = build_server(settings_for(shop.readonly, log_level="DEBUG"))
    try:
        check(await in_memory(server, CALLS, era), await in_memory(server, FAILING, era))
    finally:
        await server.aclose()
    captured = capfd.readouterr()
    assert_clean({"stderr (logs, audit)": captured.err, "stdout": captured.out})


async def test_over_http(shop: Shop, capfd: pytest.CaptureFixture[str]) -> None:
    server = build_server(settings_for(shop.readonly, api_keys=(f"ci:{API_KEY}",)))
    try:
        check(await over_http(server, CALLS), await over_http(server, FAILING))
    finally:
        await server.aclose()
    assert_clean({"stderr (logs, audit)": capfd.readouterr().err})


def test_over_stdio(shop: Shop) -> None:
    env = {"WARDEN_POSTGRES_DSN": shop.readonly, "WARDEN_POSTGRES_LOG_LEVEL": "DEBUG"}
    answers, everything = over_stdio("warden_postgres", env, CALLS + FAILING)
    ok, failed = type(answers)(answers.results[: len(CALLS)]), type(answers)(answers.results[len(CALLS) :])
    check(ok, failed)
    assert_clean({"stdio (stdout and stderr)": everything})

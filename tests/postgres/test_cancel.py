"""A cancelled statement that ignores the cancel request: the call still answers, and the backend is ended.

The statement is a real one: an XPath evaluation (libxml2, cubic in the document) that runs for seconds
inside one C call with no interrupt check, so PostgreSQL acts neither on the cancel request nor on
pg_terminate_backend until the call returns. Layer 1 refuses XPath for exactly that reason, so the statement
is run below it (validation bypassed, as tests/postgres/layers.py does): what is tested here is the executor's
own guarantee, for any statement that would ignore a cancel. It needs a server built with libxml, so it runs
on the machine's PostgreSQL (`contrib_dsn`), not the embedded one.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import anyio
import asyncpg
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import report
from tests.postgres.shop import Shop, shop_database
from tests.support.postgres import contrib_dsn
from warden_core import Timeout
from warden_core.testing import connect
from warden_postgres.client import Deadline, Limits

pytestmark = pytest.mark.anyio

DEADLINE = 1.0
LIMITS = Limits(max_rows=10, max_bytes=65_536, max_value_bytes=65_536)


@pytest.fixture(scope="module")
def full_shop() -> Iterator[Shop]:
    with shop_database(contrib_dsn()) as database:
        yield database


def uncancellable(marker: str, elements: int = 1300) -> str:
    """Seconds of libxml2: 7 s on the idle test machine, more under load (the cube of `elements`)."""
    document = f"('<r>' || repeat('<a/>', {elements}) || '</r>')::xml"
    return f"SELECT xpath('count(//a[count(following::a[count(preceding::a) > 0]) > 0])', {document}) /* {marker} */"


async def backends(shop: Shop, marker: str) -> list[str]:
    """The state of each backend of the shop database whose statement contains `marker`."""
    conn = await asyncpg.connect(shop.admin)
    try:
        rows = await conn.fetch(
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND strpos(query, $1) > 0",
            marker,
        )
        return [row["state"] for row in rows]
    finally:
        await conn.close()


async def gone(shop: Shop, marker: str, within: float = 120) -> float:
    """Seconds until no backend runs the statement marked `marker` (at most `within`)."""
    waited = 0.0
    while await backends(shop, marker) and waited < within:
        await anyio.sleep(0.5)
        waited += 0.5
    return waited


async def test_a_statement_that_ignores_cancel_is_terminated_and_the_call_answers(
    full_shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    marker = f"uncancellable-{uuid.uuid4().hex[:8]}"
    # One pooled connection: the next call needs the very connection the runaway statement held.
    settings = settings_for(full_shop.readonly, backend_timeout=DEADLINE, pool_size=1)
    try:
        with caplog.at_level(logging.WARNING, logger="warden_postgres.client"):
            async with running(settings) as server, connect(server) as client:
                await client.call_tool("pg_query", {"sql": "SELECT 1"})  # warm: pool and role check
                db = server.databases.get(None)  # type: ignore[attr-defined]
                started = time.perf_counter()
                with pytest.raises(Timeout) as refused:
                    await db.run(uncancellable(marker), [], analysis=None, limits=LIMITS, deadline=Deadline(DEADLINE))
                answered = time.perf_counter() - started
                still_running = await backends(full_shop, marker)
                quick = await client.call_tool("pg_query", {"sql": "SELECT 1 AS one"})
                after_quick = time.perf_counter() - started
        report(
            f"uncancellable XPath: answered after {answered:.2f} s (deadline {DEADLINE:g} s); "
            f"the next call was done at {after_quick:.2f} s"
        )
        assert f"did not finish within {DEADLINE:g} s" in str(refused.value)
        assert answered < DEADLINE + 3  # the deadline, the grace for the cancel, the terminate: not libxml2's time
        assert still_running == ["active"], "the statement must really ignore cancel, or this test proves nothing"
        assert quick.structured_content["rows"] == [[1]]
        assert any("ignored its cancel request; terminated it" in r.getMessage() for r in caplog.records)
    finally:
        # PostgreSQL cannot interrupt libxml2; once the C call returns, the terminated backend exits.
        waited = await gone(full_shop, marker)
    report(f"the terminated backend left pg_stat_activity {waited:.1f} s after the call answered")
    assert await backends(full_shop, marker) == []


async def test_the_session_ends_at_the_deadline_whatever_budget_a_step_was_given(shop: Shop) -> None:
    """Some steps give several queries one fixed budget (the catalog check, the streaming rewrite): the session
    itself ends at the call's deadline, and the statement is cancelled like any other."""
    marker = f"long-step-{uuid.uuid4().hex[:8]}"
    # An hour of server-side statement_timeout, so only the client's deadline can end the statement.
    async with running(settings_for(shop.readonly, statement_timeout=3600)) as server:
        db = server.databases.get(None)  # type: ignore[attr-defined]
        started = time.perf_counter()
        with pytest.raises(Timeout, match=f"did not finish within {DEADLINE:g} s"):
            async with db.session(Deadline(DEADLINE)) as conn:
                await conn.fetch(f"SELECT pg_sleep(3600) /* {marker} */", timeout=3600)
        elapsed = time.perf_counter() - started
        report(f"a step with a one-hour budget ended after {elapsed:.2f} s (deadline {DEADLINE:g} s)")
        assert elapsed < DEADLINE + 3
        assert await gone(shop, marker, within=5) < 5

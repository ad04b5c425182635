"""The dba group: top statements, sessions and locks, health checks and index advice, on real PostgreSQL.

The shop's own server (embedded PostgreSQL 16, or WARDEN_TEST_POSTGRES_DSN) serves the sessions, locks and
health checks, and shows the "not installed" answers: no extension is created there. pg_stat_statements must be
preloaded, so top statements and index advice run on a private cluster of the machine's PostgreSQL (with
`shared_preload_libraries=pg_stat_statements` and the hypopg package), never on the shared server.

Every server here runs with the defaults but for the group (`dba` on), which is the feature: the schema
allowlist admits `public` only, so the shop's `internal` schema, seeded with the same findings, must never show.
The read-only role may read `internal` itself; only the allowlist keeps it out. Seeing other sessions is the
database's grant (pg_monitor), given to a role made for it, as the README says.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.layers import database, report
from tests.postgres.shop import Shop, run_sql, shop_database
from tests.support.pgcluster import machine_cluster
from tests.support.postgres import with_user
from warden_core import WardenServer
from warden_core.testing import check_tools_list_budget, connect, list_tools_json, tools_list_size

pytestmark = pytest.mark.anyio

DBA = {"groups": "catalog,query,dba"}
"""Enabling the group is the one setting these tests change."""

SEED_SQL = """
CREATE TABLE {schema}.dba_dupe (id int PRIMARY KEY, code int, note text);
INSERT INTO {schema}.dba_dupe SELECT g, g % 10, 'n' || g FROM generate_series(1, 5000) g;
CREATE INDEX dba_dupe_code_a ON {schema}.dba_dupe (code);
CREATE INDEX dba_dupe_code_b ON {schema}.dba_dupe (code);
CREATE SEQUENCE {schema}.dba_counter AS smallint;
SELECT setval('{schema}.dba_counter', 32000);
CREATE TABLE {schema}.dba_bloat (id int, pad text);
ALTER TABLE {schema}.dba_bloat SET (autovacuum_enabled = off);
INSERT INTO {schema}.dba_bloat SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;
DELETE FROM {schema}.dba_bloat WHERE id > 1000;
"""
"""Findings seeded the same way in `public` (allowlisted) and `internal` (not)."""

INVALID_SQL = "CREATE UNIQUE INDEX CONCURRENTLY dba_dupe_code_unique ON {schema}.dba_dupe (code)"
"""Fails (code repeats), and leaves an invalid index behind, as a failed concurrent build does."""


@dataclass(frozen=True)
class DbaShop:
    shop: Shop
    monitor: str  # a read-only login that is also a member of pg_monitor
    monitor_role: str


async def _seed(shop: Shop, monitor: str) -> None:
    for schema in ("public", "internal"):
        await run_sql(shop.owner, SEED_SQL.replace("{schema}", schema))
        conn = await asyncpg.connect(shop.owner)
        try:
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(INVALID_SQL.replace("{schema}", schema))
        finally:
            await conn.close()  # the session's statistics reach the cumulative statistics as it ends
    for schema in ("public", "internal"):
        await run_sql(
            shop.owner,
            f"GRANT SELECT ON {schema}.dba_dupe, {schema}.dba_bloat TO {shop.readonly_role}; "
            f"GRANT SELECT ON SEQUENCE {schema}.dba_counter TO {shop.readonly_role}",
        )
    await run_sql(shop.admin, f"CREATE ROLE {monitor} LOGIN IN ROLE {shop.readonly_role}, pg_monitor")


@pytest.fixture(scope="module")
def dba_shop(pg_admin_dsn: str) -> Iterator[DbaShop]:
    monitor = f"warden_mon_{uuid.uuid4().hex[:8]}"
    with shop_database(pg_admin_dsn) as shop:
        anyio.run(_seed, shop, monitor)
        try:
            yield DbaShop(shop, with_user(shop.admin, monitor), monitor)
        finally:
            anyio.run(run_sql, pg_admin_dsn, f"DROP ROLE IF EXISTS {monitor}")


async def call(server: WardenServer, tool: str, **arguments: Any) -> dict[str, Any]:
    async with connect(server) as client:
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


async def refusal(server: WardenServer, tool: str, **arguments: Any) -> str:
    async with connect(server) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    return str(result.content[0].text)


def aws_key() -> str:
    """A fresh access-key-id-shaped canary (not AWS's documented example, which scanners ignore)."""
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))


@asynccontextmanager
async def session(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        conn.terminate()


# --- The surface: off by default, and what it costs when on. -------------------------------------------


async def test_the_group_is_off_by_default_and_lists_four_read_tools_when_on() -> None:
    async with running(settings_for()) as default, running(settings_for(**DBA)) as enabled:
        default_size = await check_tools_list_budget(default)
        tools = await list_tools_json(enabled)
        names = [tool["name"] for tool in tools]
        assert "pg_activity" not in [tool["name"] for tool in await list_tools_json(default)]
        assert names[5:] == ["pg_top_queries", "pg_activity", "pg_health", "pg_index_advice"]
        assert all(tool["annotations"]["readOnlyHint"] for tool in tools)
        enabled_size = tools_list_size(tools)
        assert enabled_size <= 16_000, "the group costs little context"
    report(f"tools/list: {default_size} characters by default, {enabled_size} with the dba group")


# --- pg_activity. ---------------------------------------------------------------------------------------


async def test_blocking_chain_and_locks(dba_shop: DbaShop) -> None:
    shop = dba_shop.shop
    async with session(shop.owner) as holder, session(shop.owner) as waiter:
        await holder.execute("BEGIN")
        await holder.execute("LOCK TABLE public.dba_dupe IN ACCESS EXCLUSIVE MODE")
        await holder.execute("LOCK TABLE internal.dba_dupe IN ACCESS EXCLUSIVE MODE")
        blocked = asyncio.ensure_future(waiter.fetchval("SELECT count(*) FROM public.dba_dupe"))
        try:
            async with running(settings_for(dba_shop.monitor, **DBA)) as server:
                for _ in range(50):
                    chain = await call(server, "pg_activity", kind="blocking")
                    if len(chain["items"]) == 2:
                        break
                    await anyio.sleep(0.1)
                by_pid = {item["pid"]: item for item in chain["items"]}
                head, wait = by_pid[holder.get_server_pid()], by_pid[waiter.get_server_pid()]
                assert head["blocking"] == [waiter.get_server_pid()] and "blocked_by" not in head
                assert wait["blocked_by"] == [holder.get_server_pid()]
                assert wait["chain_root"] == head["chain_root"] == holder.get_server_pid()
                assert wait["query"] == "SELECT count(*) FROM public.dba_dupe"
                assert wait["waiting_on"] == "Lock:relation"

                locks = await call(server, "pg_activity", kind="locks")
                waiting = [lock for lock in locks["items"] if not lock["granted"]]
                assert [lock["relation"] for lock in waiting] == ["public.dba_dupe"]
                relations = {lock.get("relation") for lock in locks["items"]}
                assert "public.dba_dupe" in relations
                assert not any("internal" in str(relation) for relation in relations)
                assert any("locks on objects outside the schema allowlist" in note for note in locks["notes"])
                assert "internal" not in json.dumps(chain) + json.dumps(locks)
        finally:
            await holder.execute("ROLLBACK")
            assert await blocked == 5000


async def test_long_transactions_and_active_statements_mask_secrets(dba_shop: DbaShop) -> None:
    shop = dba_shop.shop
    key, password = aws_key(), "hunter2-" + uuid.uuid4().hex
    visible = f"SELECT '{key}' AS k, 'password={password}' AS dsn FROM public.customers LIMIT 1"
    hidden = "SELECT count(*) FROM internal.staff_notes"
    async with session(shop.owner) as old, session(shop.owner) as other:
        old_pid, other_pid = old.get_server_pid(), other.get_server_pid()
        await old.execute("BEGIN")
        await old.fetch(visible)
        await other.execute("BEGIN")
        await other.fetch(hidden)
        await anyio.sleep(1.2)
        async with running(settings_for(dba_shop.monitor, **DBA)) as server:
            long = await call(server, "pg_activity", kind="long_transactions", min_seconds=1)
            active = await call(server, "pg_activity", kind="active")
            recent = await call(server, "pg_activity", kind="long_transactions")  # 60 s by default
        await old.execute("ROLLBACK")
        await other.execute("ROLLBACK")
    by_pid = {item["pid"]: item for item in long["items"]}
    mine = by_pid[old_pid]
    assert mine["state"] == "idle in transaction" and mine["transaction_seconds"] >= 1
    assert "public.customers" in mine["query"]
    answers = json.dumps([long, active])
    assert key not in answers and password not in answers, "the egress filter masks query texts"
    assert "[masked" in mine["query"]
    # The statement naming a schema outside the allowlist is listed, without its text.
    assert "query" not in by_pid[other_pid]
    assert "internal" not in answers
    assert any("withheld" in note for note in long["notes"])
    assert {old_pid, other_pid} <= {item["pid"] for item in active["items"]}
    assert old_pid not in {item["pid"] for item in recent["items"]}


async def test_without_pg_read_all_stats_other_roles_texts_are_hidden_and_the_answer_says_why(
    dba_shop: DbaShop,
) -> None:
    shop = dba_shop.shop
    async with session(shop.owner) as other:
        await other.execute("BEGIN")
        await other.fetch("SELECT 1 FROM public.customers LIMIT 1")
        async with running(settings_for(shop.readonly, **DBA)) as server:
            active = await call(server, "pg_activity", kind="active")
        await other.execute("ROLLBACK")
    assert all("query" not in item for item in active["items"])
    assert any("pg_read_all_stats" in note for note in active.get("notes", [])), active


# --- pg_health. -----------------------------------------------------------------------------------------


async def test_health_finds_what_was_seeded_in_allowlisted_schemas_only(dba_shop: DbaShop) -> None:
    async with running(settings_for(dba_shop.shop.readonly, **DBA)) as server:
        everything = await call(server, "pg_health")
        checks = {
            check: await call(server, "pg_health", check=check)
            for check in ("bloat", "indexes", "vacuum", "wraparound", "sequences", "connections", "replication")
        }
    assert "internal" not in json.dumps([everything, checks])
    assert {item["check"] for item in everything["items"]} >= {"indexes", "sequences", "connections", "bloat"}

    problems = {(item["problem"], item["index"]) for item in checks["indexes"]["items"]}
    assert ("invalid", "dba_dupe_code_unique") in problems
    assert ("duplicate", "dba_dupe_code_a") in problems
    assert ("duplicate", "dba_dupe_code_b") not in problems, "a pair is reported once"
    duplicate = next(item for item in checks["indexes"]["items"] if item["problem"] == "duplicate")
    assert duplicate["same_as"] == ["dba_dupe_code_b"] and duplicate["table"] == "public.dba_dupe"
    assert any(item["problem"] == "unused" for item in checks["indexes"]["items"])
    assert any("indexes findings on objects outside the schema allowlist" in n for n in checks["indexes"]["notes"])

    (sequence,) = [item for item in checks["sequences"]["items"] if item["sequence"] == "public.dba_counter"]
    assert sequence["type"] == "smallint" and sequence["limit"] == 32767 and sequence["used_pct"] > 97

    (bloat,) = [item for item in checks["bloat"]["items"] if item["table"] == "public.dba_bloat"]
    assert bloat["dead_tuples"] == 4000 and bloat["dead_pct"] == 80.0

    vacuum = {item["table"]: item for item in checks["vacuum"]["items"]}
    assert vacuum["public.dba_bloat"]["needs_vacuum"] is True

    wrap = checks["wraparound"]["items"]
    assert wrap[0]["scope"] == "database" and wrap[0]["xid_age"] > 0
    assert all(item["table"].startswith("public.") for item in wrap[1:])

    (connections,) = checks["connections"]["items"]
    assert connections["max_connections"] >= connections["used"] >= 1
    assert connections["this_database"] >= 1

    assert {"kind": "this server", "name": "primary"}.items() <= checks["replication"]["items"][-1].items()


async def test_a_wider_allowlist_shows_the_other_schema(dba_shop: DbaShop) -> None:
    async with running(settings_for(dba_shop.shop.readonly, schemas="public,internal", **DBA)) as server:
        indexes = await call(server, "pg_health", check="indexes")
    tables = {item["table"] for item in indexes["items"]}
    assert {"public.dba_dupe", "internal.dba_dupe"} <= tables


# --- Extensions that are not there. ----------------------------------------------------------------------


async def test_without_the_extensions_the_answers_say_how_to_enable_them(dba_shop: DbaShop) -> None:
    async with running(settings_for(dba_shop.shop.readonly, **DBA)) as server:
        top = await refusal(server, "pg_top_queries")
        advice = await refusal(server, "pg_index_advice", sql="SELECT * FROM dba_dupe WHERE note = 'n1'")
        refused = await refusal(server, "pg_index_advice", sql="SELECT * FROM internal.dba_dupe")
    assert "pg_stat_statements is not installed" in top
    assert "shared_preload_libraries" in top and "CREATE EXTENSION pg_stat_statements" in top
    assert "hypopg is not installed" in advice and "CREATE EXTENSION hypopg" in advice
    assert "not allowed" in refused, "tool SQL is checked before the extension is looked for"


# --- Server-only functions stay out of reach of tool SQL. ----------------------------------------------

SERVER_ONLY_CALLS = [
    "SELECT * FROM hypopg_create_index('CREATE INDEX ON dba_dupe (note)')",
    "SELECT hypopg_reset()",
    "SELECT * FROM hypopg()",
    "SELECT pg_stat_statements_reset()",
    "SELECT * FROM pg_stat_statements(true)",
    "SELECT query FROM pg_stat_statements",
    "SELECT * FROM public.hypopg_list_indexes",
]


@pytest.fixture(scope="module")
def extended() -> Iterator[DbaShop]:
    """A shop on a private cluster of the machine's PostgreSQL with pg_stat_statements preloaded and hypopg."""
    with machine_cluster({"shared_preload_libraries": "pg_stat_statements"}) as cluster:
        monitor = f"warden_mon_{uuid.uuid4().hex[:8]}"
        with shop_database(cluster.dsn) as shop:

            async def setup() -> None:
                await run_sql(shop.admin, "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg")
                await _seed(shop, monitor)

            anyio.run(setup)
            yield DbaShop(shop, with_user(shop.admin, monitor), monitor)


@pytest.mark.parametrize("sql", SERVER_ONLY_CALLS)
@pytest.mark.parametrize("allowed_functions", ["", "public.*"])
async def test_tool_sql_cannot_call_server_only_functions(extended: DbaShop, sql: str, allowed_functions: str) -> None:
    """Refused for pg_query and pg_explain, even when the operator lists every function of the schema."""
    settings = settings_for(extended.shop.owner, allowed_functions=allowed_functions, **DBA)
    async with running(settings) as server:
        for tool in ("pg_query", "pg_explain"):
            text = await refusal(server, tool, sql=sql)
            assert "refused" in text or "not allowed" in text, text
        text = await refusal(server, "pg_index_advice", sql=sql)
        assert "refused" in text or "not allowed" in text, text
    conn = await asyncpg.connect(extended.shop.admin)
    try:
        assert await conn.fetchval("SELECT count(*) FROM hypopg()") == 0
    finally:
        await conn.close()


# --- pg_top_queries. ---------------------------------------------------------------------------------------


async def test_top_queries_rank_statements_and_keep_the_allowlist(extended: DbaShop) -> None:
    shop = extended.shop
    password = "hunter2-" + uuid.uuid4().hex
    async with session(shop.owner) as app:
        for _ in range(25):
            await app.fetch("SELECT count(*) FROM public.orders WHERE id > $1", 0)
        for _ in range(20):  # often enough to rank among the first by calls
            await app.fetch(f"SELECT 1 FROM public.customers /* password={password} */ LIMIT 1")
            await app.fetch("SELECT count(*) FROM internal.staff_notes")
    async with running(settings_for(extended.monitor, **DBA)) as server:
        by_calls = await call(server, "pg_top_queries", order_by="calls", limit=50)
        by_time = await call(server, "pg_top_queries", limit=3)
    async with running(settings_for(shop.readonly, **DBA)) as server:
        unprivileged = await call(server, "pg_top_queries", order_by="calls", limit=50)
    texts = [item.get("query", "") for item in by_calls["items"]]
    (orders,) = [item for item in by_calls["items"] if "FROM public.orders" in item.get("query", "")]
    assert orders["calls"] >= 25 and orders["mean_ms"] >= 0 and orders["rows"] >= 25
    assert isinstance(orders["queryid"], str), "64-bit ids as strings"
    assert by_calls["items"][0]["calls"] >= orders["calls"], "ranked by calls"
    assert len(by_time["items"]) == 3 and by_time["kind"] == "total_time"
    commented = [text for text in texts if "public.customers /*" in text]
    assert commented and password not in json.dumps(by_calls) and "[masked" in commented[0]
    assert "internal" not in json.dumps(by_calls)
    assert any("withheld" in note for note in by_calls["notes"])
    # The same statements, without pg_read_all_stats: the owner's texts are PostgreSQL's to hide.
    assert not any("FROM public.orders" in item.get("query", "") for item in unprivileged["items"])
    assert any("pg_read_all_stats" in note for note in unprivileged["notes"])


# --- pg_index_advice. --------------------------------------------------------------------------------------


async def test_index_advice_tries_hypothetical_indexes_and_leaves_none_behind(extended: DbaShop) -> None:
    shop = extended.shop
    await run_sql(shop.owner, "ANALYZE public.dba_dupe")
    async with running(settings_for(shop.readonly, **DBA)) as server:
        advice = await call(server, "pg_index_advice", sql="SELECT * FROM dba_dupe WHERE note = $1", params=["n42"])
        again = await call(server, "pg_explain", sql="SELECT * FROM dba_dupe WHERE note = 'n42'")
        nothing = await call(server, "pg_index_advice", sql="SELECT * FROM dba_dupe WHERE id = 7")
    (candidate,) = advice["candidates"]
    assert candidate["index"] == 'CREATE INDEX ON "public"."dba_dupe" ("note")'
    assert candidate["used"] and candidate["reduction_pct"] > 50 and candidate["cost"] < advice["cost"]
    assert advice["recommended"] == candidate["index"]
    # The pooled connection that held the hypothetical index plans without it afterwards.
    assert "<" not in json.dumps(again["plan"])
    assert nothing["candidates"] == [] and "nothing to try" in nothing["notes"][0]


async def test_index_advice_checks_tool_sql_like_pg_explain(extended: DbaShop) -> None:
    async with running(settings_for(extended.shop.readonly, **DBA)) as server:
        other_schema = await refusal(server, "pg_index_advice", sql="SELECT * FROM internal.dba_dupe WHERE note = 'x'")
        write = await refusal(server, "pg_index_advice", sql="DELETE FROM dba_dupe")
    assert "internal" in other_schema and "not allowed" in other_schema
    assert "SELECT" in write


async def test_a_comparison_that_fails_half_way_never_pools_its_hypothetical_indexes(extended: DbaShop) -> None:
    """The server's own statements leave state outside the transaction: a session that could not reset it is
    closed, so no later call (of any principal) plans with an index that does not exist."""
    from warden_postgres.client import Deadline
    from warden_postgres.tools.query import explain_statement

    sql = "SELECT * FROM dba_dupe WHERE note = 'n42'"
    create = ("SELECT indexname FROM public.hypopg_create_index($1)", ('CREATE INDEX ON "dba_dupe" ("note")',))
    settings = settings_for(extended.shop.readonly, pool_size=1, **DBA)
    async with running(settings) as server:
        db = database(server)
        analysis = explain_statement(sql, analyze=False, verbose=False)
        with pytest.raises(Exception, match="division by zero"):
            await db.compare(
                analysis,
                [],
                variants=[[create, ("SELECT 1 / 0", ())]],
                reset="SELECT public.hypopg_reset()",
                max_bytes=1 << 20,
                deadline=Deadline(10),
            )
        (plan,) = await db.compare(
            analysis, [], variants=[], reset="SELECT 1", max_bytes=1 << 20, deadline=Deadline(10)
        )
        assert "<" not in json.dumps(plan), "the one pooled connection plans without the hypothetical index"
        explained = await call(server, "pg_explain", sql=sql)
        assert "Seq Scan" in json.dumps(explained["plan"])


async def test_pg_monitor_is_no_problem_for_the_strict_role_check(dba_shop: DbaShop) -> None:
    """The grant the README asks for passes --strict-role: it reads statistics and settings, and writes nothing."""
    async with running(settings_for(dba_shop.monitor, strict_role=True, **DBA)) as server:
        answer = await call(server, "pg_health", check="connections")
    assert answer["items"][0]["used"] >= 1


@pytest.fixture(scope="module")
def not_preloaded() -> Iterator[Shop]:
    """A shop on a private cluster of the machine's PostgreSQL where pg_stat_statements is created, not preloaded."""
    with machine_cluster() as cluster, shop_database(cluster.dsn) as shop:
        anyio.run(run_sql, shop.admin, "CREATE EXTENSION pg_stat_statements")
        yield shop


async def test_installed_but_not_preloaded_pg_stat_statements_is_named_as_such(not_preloaded: Shop) -> None:
    """CREATE EXTENSION works without the preload; the tool then says the restart is what is missing."""
    async with running(settings_for(not_preloaded.readonly, **DBA)) as server:
        text = await refusal(server, "pg_top_queries")
    assert "installed" in text and "but not loaded" in text and "shared_preload_libraries" in text


async def test_index_advice_on_a_join_tries_the_columns_around_each_full_scan(extended: DbaShop) -> None:
    sql = (
        "SELECT c.email, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.status = 'shipped' GROUP BY c.email"
    )
    async with running(settings_for(extended.shop.readonly, **DBA)) as server:
        advice = await call(server, "pg_index_advice", sql=sql)
    indexes = [candidate["index"] for candidate in advice["candidates"]]
    assert indexes and all(index.startswith('CREATE INDEX ON "public".') for index in indexes)
    assert any('"status"' in index for index in indexes)
    assert all(candidate["cost"] > 0 for candidate in advice["candidates"])
    assert advice["cost"] > 0

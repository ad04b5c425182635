"""Contrib functions that run SQL text or reach another database, on the machine's PostgreSQL with contrib.

tablefunc (crosstab, connectby), xml2 (xpath_table), dblink and postgres_fdw are installed in a shop database
(tests/support/postgres.contrib_dsn: never skipped), with a foreign server that loops back to the same database
with a stored password. Controls first show the attacks are real here: run below every layer, crosstab kills a
session and dblink commits a row. Then every attack goes to pg_query, and to pg_explain with analyze allowed, as
the read-only role, the table owner and a superuser (served with its flag): each is refused, and afterwards the
victim session still answers, no notification arrived, no row, lock, setting, table or file changed, and no
planted secret or row of schema `internal` is in any answer.
"""

from __future__ import annotations

import asyncio
import uuid

import anyio
import asyncpg
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.corpus import CANARIES, CATALOG_LEAKS, CONTRIB_ATTACKS, IMPLICIT_CALLS
from tests.postgres.layers import database, unchecked
from tests.postgres.shop import Shop, snapshot
from tests.postgres.test_layer1_validator import verdict
from warden_core.testing import connect
from warden_postgres.validator import Rejected

pytestmark = pytest.mark.anyio

LEAKS = (*CANARIES, "root:x:0:0", "SCRAM-SHA-256$")
"""Secrets planted in the shop, /etc/passwd, and password hashes: none may come back."""


def fill(sql: str, shop: Shop, victim: int, canary: str) -> str:
    return sql.replace("{victim}", str(victim)).replace("{canary}", canary).replace("{database}", shop.database)


async def alive(conn: asyncpg.Connection) -> bool:
    """Whether the session still answers. A killed one fails in whichever way its driver notices first."""
    try:
        return bool(await conn.fetchval("SELECT true", timeout=5))
    except Exception:
        return False


async def test_control_these_functions_do_what_the_attacks_need(contrib_shop: Shop) -> None:
    """Below every layer (validation bypassed), as a superuser: a session dies, a row is committed elsewhere."""
    victim = await asyncpg.connect(contrib_shop.owner)
    watcher = await asyncpg.connect(contrib_shop.admin)
    try:
        async with running(settings_for(contrib_shop.admin, unsafe_allow_superuser=True)) as server:
            db = database(server)
            sql = fill(CONTRIB_ATTACKS[1], contrib_shop, victim.get_server_pid(), "")
            await unchecked(db, sql)
            assert not await alive(victim)
            await unchecked(db, "SELECT dblink_exec('warden_loop', 'INSERT INTO public.dblink_target VALUES (1)')")
        # The server's transaction was rolled back; dblink's own connection had committed.
        assert await watcher.fetchval("SELECT count(*) FROM public.dblink_target") == 1
    finally:
        await watcher.execute("DELETE FROM public.dblink_target")
        await watcher.close()
        victim.terminate()  # killed above: there is nothing left to close politely


@pytest.mark.parametrize("credential", ["readonly", "owner", "admin"])
async def test_contrib_attacks_are_refused_and_leave_no_trace(contrib_shop: Shop, credential: str) -> None:
    shop = contrib_shop
    dsn = getattr(shop, credential)
    canary = f"/tmp/warden-canary-{uuid.uuid4().hex}"
    notified: list[str] = []
    # The victim shares the credential's role: a role may signal its own sessions, so a kill would succeed.
    victim = await asyncpg.connect(dsn)
    watcher = await asyncpg.connect(shop.admin)
    await watcher.add_listener("warden_channel", lambda *args: notified.append(str(args[-1])))
    # A superuser is served only with its flag; the suite sets it to prove the checks hold even then.
    unsafe = {"unsafe_allow_superuser": credential == "admin"}
    try:
        async with (
            running(settings_for(dsn, **unsafe)) as server,
            running(settings_for(dsn, explain_analyze=True, **unsafe)) as analyzing,
            connect(server) as client,
            connect(analyzing) as analyzer,
        ):
            before = await snapshot(shop, watcher)
            for template in [*CONTRIB_ATTACKS, *CATALOG_LEAKS]:
                sql = fill(template, shop, victim.get_server_pid(), canary)
                for result in (
                    await client.call_tool("pg_query", {"sql": sql}),
                    await analyzer.call_tool("pg_explain", {"sql": sql, "analyze": True}),
                ):
                    text = result.content[0].text
                    assert result.is_error, f"{credential}: {sql!r} was accepted: {text}"
                    assert not [leak for leak in LEAKS if leak in text], f"{credential}: {sql!r} leaked: {text}"
                assert await alive(victim), f"{credential}: {sql!r} killed a session"
                assert await snapshot(shop, watcher) == before, f"{credential}: {sql!r} left a trace"
                assert await watcher.fetchval("SELECT count(*) FROM public.dblink_target") == 0, sql
            await asyncio.sleep(0.2)  # a notification would have arrived by now
            assert not notified
    finally:
        await watcher.close()
        await victim.close()
    assert not await anyio.Path(canary).exists()


async def test_the_refusal_names_what_would_have_run(contrib_shop: Shop) -> None:
    async with running(settings_for(contrib_shop.readonly)) as server, connect(server) as client:
        crosstab = await client.call_tool("pg_query", {"sql": CONTRIB_ATTACKS[0]})
        view = await client.call_tool("pg_query", {"sql": "SELECT count(*) FROM loop_notes"})
    assert "crosstab" in crosstab.content[0].text and "never allowed" in crosstab.content[0].text
    # The view is in public; what it reads is a foreign table in `internal`.
    assert "internal.loop_notes_remote" in view.content[0].text


async def test_the_plan_check_alone_refuses_them_without_the_name_checks(contrib_shop: Shop) -> None:
    """Layer 1 without its name checks: what PostgreSQL resolved is refused, however it was named or reached."""
    conn = await asyncpg.connect(contrib_shop.owner, statement_cache_size=0)
    try:
        for template in [*CONTRIB_ATTACKS, *IMPLICIT_CALLS, *CATALOG_LEAKS]:
            if template.startswith("SHOW"):
                continue  # refused by the parse-tree policy, which this test keeps
            sql = fill(template, contrib_shop, 0, "/tmp/warden-canary-never")
            with pytest.raises(Rejected):
                await verdict(conn, sql, precheck=False)
    finally:
        await conn.close()

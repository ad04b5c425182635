"""Per-principal database roles (ROLE_MAP) on a real PostgreSQL: the database's own grants decide.

A NOINHERIT login role (it holds no privilege of its own) may switch to two NOLOGIN roles: analysts
may read `customers`, on-call engineers `orders`. The same server, on one pooled connection, serves
both; neither sees the other's tables, and the Cedar policy file is asked about every table a query
reads. (That the role never outlives a call is tested with the other session resets, in layer 3.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres.conftest import Roles, running, settings_for
from tests.postgres.layers import database
from tests.postgres.shop import Shop
from warden_core import PermissionDenied, WardenServer
from warden_core.auth import Principal
from warden_core.testing import acting_as, connect
from warden_core.testing.identity import api_key, end_user
from warden_postgres.client import Deadline

pytestmark = pytest.mark.anyio

ALICE = end_user("alice@example.com", ["analysts"])
BOB = end_user("bob@example.com", ["oncall"])


@pytest.fixture
async def mapped(roles: Roles) -> AsyncIterator[WardenServer]:
    # ROLE_MAP is the setting under test; one pooled connection makes every call reuse the same session.
    async with running(settings_for(roles.login_dsn, role_map=roles.role_map(), pool_size=1)) as server:
        yield server


async def query(server: WardenServer, principal: Principal, sql: str) -> dict[str, Any]:
    with acting_as(principal):
        async with connect(server) as client:
            result = await client.call_tool("pg_query", {"sql": sql})
    if result.is_error:
        return {"error": result.content[0].text}
    return result.structured_content or {}


async def test_two_principals_see_different_tables_through_the_same_server(mapped: WardenServer) -> None:
    assert (await query(mapped, ALICE, "SELECT count(*) FROM customers"))["rows"][0][0] > 0
    assert "permission denied for table orders" in (await query(mapped, ALICE, "SELECT 1 FROM orders"))["error"]
    assert (await query(mapped, BOB, "SELECT count(*) FROM orders"))["rows"][0][0] > 0
    assert "permission denied for table customers" in (await query(mapped, BOB, "SELECT 1 FROM customers"))["error"]


async def test_the_session_names_the_role_the_principal_and_the_request(mapped: WardenServer, roles: Roles) -> None:
    sql = "SELECT current_user, session_user, current_setting('application_name')"
    row = (await query(mapped, ALICE, sql))["rows"][0]
    assert row[:2] == [roles.analyst, roles.login]
    # warden-postgres/<request id>/<caller>/<end user>: the gateway's key, then the person it acts for.
    name, request, caller = row[2].split("/", 2)
    assert (name, caller) == ("warden-postgres", "apikey/contextforge/alice@example.com") and request


async def test_concurrent_principals_on_one_connection_each_see_only_their_own(mapped: WardenServer) -> None:
    async def as_(principal: Principal, sql: str) -> list[Any]:
        results = []
        for _ in range(5):
            results.append(await query(mapped, principal, sql))
        return results

    sql = "SELECT current_user, count(*) FROM {}"
    alice, bob = await asyncio.gather(as_(ALICE, sql.format("customers")), as_(BOB, sql.format("orders")))
    assert {r["rows"][0][0] for r in alice} == {mapped.databases.get(None).roles.lookup(ALICE)}  # type: ignore[attr-defined]
    assert {r["rows"][0][0] for r in bob} == {mapped.databases.get(None).roles.lookup(BOB)}  # type: ignore[attr-defined]


async def test_a_principal_without_a_mapping_is_refused(mapped: WardenServer, roles: Roles) -> None:
    refused = await query(mapped, api_key("ci"), "SELECT 1")
    assert "no database role is mapped for apikey/ci (WARDEN_POSTGRES_ROLE_MAP)" in refused["error"]
    # The readiness probe is the server's own: it runs as the login role, mapping or not.
    assert await mapped.ready()


async def test_a_role_not_granted_to_the_login_role_is_named_with_the_grant_to_make(roles: Roles) -> None:
    settings = settings_for(roles.login_dsn, role_map=(f"*={roles.stranger}",))
    async with running(settings) as server:
        refused = await query(server, ALICE, "SELECT 1")
    assert f"role {roles.stranger!r} (WARDEN_POSTGRES_ROLE_MAP) is not granted to the login role" in refused["error"]
    assert f'GRANT "{roles.stranger}" TO "{roles.login}"' in refused["error"]
    async with running(settings_for(roles.login_dsn, role_map=("*=warden_no_such_role",))) as server:
        assert "has no role 'warden_no_such_role'" in (await query(server, ALICE, "SELECT 1"))["error"]


async def test_the_policy_file_is_asked_about_every_table_a_query_reads(
    roles: Roles, shop: Shop, tmp_path: Path
) -> None:
    policy = tmp_path / "postgres.cedar"
    policy.write_text(
        'permit(principal, action in Warden::Action::"access:read", resource);\n'
        '@id("analysts-not-internal")\n'
        'forbid(principal in Warden::Group::"analysts", action, resource in Warden::Schema::"internal");\n'
    )
    # The owner (who may read everything) and both schemas allowlisted: only the policy file decides.
    settings = settings_for(shop.owner, schemas=("public", "internal"), policy_file=str(policy))
    async with running(settings) as server:
        sql = "SELECT count(*) FROM public.customers c, internal.staff_notes n"
        denied = await query(server, ALICE, sql)
        assert "denied by policy analysts-not-internal" in denied["error"]
        assert "Table 'internal.staff_notes'" in denied["error"]
        assert "rows" in await query(server, BOB, sql)
        with acting_as(ALICE):
            async with connect(server) as client:
                described = await client.call_tool("pg_describe_table", {"schema": "internal", "table": "staff_notes"})
        assert described.is_error and "analysts-not-internal" in described.content[0].text


async def test_without_a_role_map_every_call_runs_as_the_login_role(roles: Roles) -> None:
    async with running(settings_for(roles.login_dsn)) as server:
        assert (await query(server, ALICE, "SELECT current_user"))["rows"] == [[roles.login]]
        with pytest.raises(PermissionDenied):  # and the login role itself has no grant on the tables
            await database(server).run(
                "SELECT 1 FROM customers", [], analysis=None, limits=_limits(), deadline=Deadline(10)
            )


def _limits() -> Any:
    from tests.postgres.layers import LIMITS

    return LIMITS

"""Layer 6 on its own: the check of what the database role can do, with and without --strict-role."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.postgres.conftest import running, settings_for
from tests.postgres.shop import Shop, run_sql
from tests.support.postgres import with_user
from warden_core import Allowlist, PermissionDenied, SettingsError
from warden_core.cli import run as run_cli
from warden_postgres import role
from warden_postgres.client import Databases, Deadline
from warden_postgres.server import APP, build_server

pytestmark = pytest.mark.anyio


async def report_for(dsn: str) -> role.RoleReport:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(readonly=True):
            return await role.inspect(conn, seconds=10)
    finally:
        await conn.close()


@pytest.fixture
async def file_reader(shop: Shop) -> AsyncIterator[str]:
    """A role that can only SELECT, but is a member of pg_read_server_files."""
    name = f"warden_files_{uuid.uuid4().hex[:8]}"
    await run_sql(
        shop.admin,
        f'CREATE ROLE {name} LOGIN IN ROLE pg_read_server_files; GRANT CONNECT ON DATABASE "{shop.database}" TO {name}',
    )
    try:
        yield with_user(shop.admin, name)
    finally:
        await run_sql(shop.admin, f'REVOKE CONNECT ON DATABASE "{shop.database}" FROM {name}; DROP ROLE {name}')


async def test_the_recipe_role_is_least_privilege(shop: Shop) -> None:
    report = await report_for(shop.readonly)
    assert report.role == shop.readonly_role
    assert report.ok, report.problems


async def test_the_table_owner_is_over_privileged(shop: Shop) -> None:
    report = await report_for(shop.owner)
    problems = " | ".join(report.problems)
    assert "owns (directly or through membership) internal." in problems and not report.superuser
    assert "can write to" in problems and "public.orders" in problems
    assert "owns or can CREATE in schemas" in problems
    assert "has CREATE on the database" in problems
    assert "can advance or set sequences" in problems


async def test_a_superuser_is_over_privileged(shop: Shop) -> None:
    report = await report_for(shop.admin)
    assert report.problems[0] == "is a superuser" and report.superuser == "is a superuser"


async def test_membership_of_a_superuser_role_is_reported_as_superuser(shop: Shop) -> None:
    name = f"warden_member_{uuid.uuid4().hex[:8]}"
    await run_sql(shop.admin, f'CREATE ROLE {name} LOGIN; GRANT CONNECT ON DATABASE "{shop.database}" TO {name}')
    await run_sql(shop.admin, f"GRANT {urlsplit(shop.admin).username} TO {name}")
    try:
        report = await report_for(with_user(shop.admin, name))
        assert report.superuser.startswith("can become a superuser as a member of ")
    finally:
        await run_sql(shop.admin, f'REVOKE CONNECT ON DATABASE "{shop.database}" FROM {name}; DROP ROLE {name}')


async def test_file_roles_are_reported(file_reader: str) -> None:
    report = await report_for(file_reader)
    assert report.problems == ("is a member of pg_read_server_files",)


async def test_without_strict_role_the_server_warns_and_serves(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    async with running(settings_for(shop.owner)) as server:
        with caplog.at_level(logging.WARNING):
            rows = await server.databases.get(None).fetch("SELECT 1", deadline=Deadline(10))  # type: ignore[attr-defined]
        assert rows[0][0] == 1
    warning = " ".join(record.getMessage() for record in caplog.records)
    assert "over-privileged" in warning and shop.owner_role in warning and "WARDEN_POSTGRES_STRICT_ROLE" in warning


async def test_strict_role_refuses_to_start_with_an_over_privileged_role(shop: Shop, file_reader: str) -> None:
    for dsn, expected in ((shop.owner, "owns"), (file_reader, "pg_read_server_files")):
        with pytest.raises(SettingsError) as refused:
            build_server(settings_for(dsn, strict_role=True))
        assert "WARDEN_POSTGRES_STRICT_ROLE" in str(refused.value) and expected in str(refused.value)
        assert dsn not in str(refused.value)
    # With the superuser flag, strict_role still refuses a superuser: it is over-privileged like any other.
    with pytest.raises(SettingsError, match=r"WARDEN_POSTGRES_STRICT_ROLE is set .* is a superuser"):
        build_server(settings_for(shop.admin, strict_role=True, unsafe_allow_superuser=True))


async def test_a_superuser_is_refused_at_start_by_default(shop: Shop) -> None:
    with pytest.raises(SettingsError) as refused:
        build_server(settings_for(shop.admin))
    text = str(refused.value)
    assert "is a superuser" in text and "WARDEN_POSTGRES_UNSAFE_ALLOW_SUPERUSER" in text and shop.admin not in text


async def test_a_superuser_is_served_only_with_the_unsafe_flag(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    async with running(settings_for(shop.admin, unsafe_allow_superuser=True)) as server:
        with caplog.at_level(logging.WARNING):
            rows = await server.databases.get(None).fetch("SELECT current_user", deadline=Deadline(10))  # type: ignore[attr-defined]
        assert rows[0][0] == urlsplit(shop.admin).username
    assert "is a superuser" in " ".join(record.getMessage() for record in caplog.records)


async def test_a_superuser_is_refused_at_first_use_too(shop: Shop) -> None:
    """A database unreachable at start is checked at first use: a superuser is refused there as well."""
    databases = Databases(settings_for(shop.admin), Allowlist("WARDEN_POSTGRES_SCHEMAS", ("public",)))
    try:
        with pytest.raises(PermissionDenied, match=r"is a superuser.*WARDEN_POSTGRES_UNSAFE_ALLOW_SUPERUSER"):
            await databases.get(None).fetch("SELECT 1", deadline=Deadline(10))
    finally:
        await databases.aclose()


async def test_strict_role_serves_the_recipe_role(shop: Shop) -> None:
    async with running(settings_for(shop.readonly, strict_role=True)) as server:
        rows = await server.databases.get(None).fetch("SELECT count(*) FROM customers", deadline=Deadline(10))  # type: ignore[attr-defined]
        assert rows[0][0] == 12


async def test_strict_role_also_guards_a_database_checked_late(shop: Shop) -> None:
    """A database unreachable at start is checked on first use: with strict_role its calls are refused."""
    settings = settings_for(shop.owner, strict_role=True)
    databases = Databases(settings, Allowlist("WARDEN_POSTGRES_SCHEMAS", ("public",)))
    try:
        with pytest.raises(PermissionDenied, match="is not served"):
            await databases.get(None).fetch("SELECT 1", deadline=Deadline(10))
    finally:
        await databases.aclose()


async def test_the_cli_flag(shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WARDEN_POSTGRES_DSN", shop.owner)
    monkeypatch.setenv("WARDEN_POSTGRES_AUDIT_SINK", "stderr")
    assert run_cli(APP, ["tools"]) == 0
    assert run_cli(APP, ["--strict-role", "tools"]) == 2
    err = capsys.readouterr().err
    assert "warden-postgres: WARDEN_POSTGRES_STRICT_ROLE is set" in err and shop.owner_role in err
    monkeypatch.setenv("WARDEN_POSTGRES_DSN", shop.admin)
    assert run_cli(APP, ["tools"]) == 2
    assert "WARDEN_POSTGRES_UNSAFE_ALLOW_SUPERUSER" in capsys.readouterr().err
    assert run_cli(APP, ["--unsafe-allow-superuser", "tools"]) == 0

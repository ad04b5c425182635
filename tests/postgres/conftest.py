"""Fixtures for warden-postgres: a seeded shop on a real PostgreSQL, and servers built like production."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest

from tests.postgres.corpus import CONTRIB_SQL
from tests.postgres.shop import Shop, filled, run_sql, shop_database
from tests.support.postgres import with_user
from warden_core import WardenServer
from warden_postgres.server import build_server
from warden_postgres.settings import Settings

ServerFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def shop(pg_admin_dsn: str) -> Iterator[Shop]:
    with shop_database(pg_admin_dsn) as database:
        yield database


@pytest.fixture(scope="session")
def contrib_shop(pg_contrib_dsn: str) -> Iterator[Shop]:
    """The shop on a PostgreSQL with contrib, with tablefunc, xml2, dblink and a looping postgres_fdw server."""
    import anyio

    with shop_database(pg_contrib_dsn) as database:
        parts = urlsplit(database.admin)
        host = parts.hostname or dict(parse_qsl(parts.query)).get("host", "127.0.0.1")
        values = {
            "{readonly}": database.readonly_role,
            "{owner}": database.owner_role,
            "{database}": database.database,
            "{host}": host,
            "{port}": str(parts.port or 5432),
        }
        anyio.run(run_sql, database.admin, filled(CONTRIB_SQL, values))
        yield database


def settings_for(dsn: str | None = None, **overrides: Any) -> Settings:
    """Settings as the environment would give them, without reading this machine's WARDEN_* variables."""
    # The attack suites make hundreds of calls a minute: the core's rate limit is not under test here.
    values: dict[str, Any] = {"audit_sink": "stderr", "rate_limit": "1000000/minute"}
    if dsn is not None:
        values["dsn"] = dsn
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[WardenServer]:
    server = build_server(settings)
    try:
        yield server
    finally:
        await server.aclose()


@pytest.fixture
async def readonly_server(shop: Shop) -> AsyncIterator[WardenServer]:
    async with running(settings_for(shop.readonly)) as server:
        yield server


@pytest.fixture
async def owner_server(shop: Shop) -> AsyncIterator[WardenServer]:
    async with running(settings_for(shop.owner)) as server:
        yield server


# --- Per-principal roles (ROLE_MAP). ------------------------------------------------------------------
@dataclass(frozen=True)
class Roles:
    login_dsn: str
    login: str
    analyst: str
    oncall: str
    stranger: str

    def role_map(self, *extra: str) -> tuple[str, ...]:
        return (f"group:analysts={self.analyst}", f"group:oncall={self.oncall}", *extra)


@pytest.fixture(scope="session")
def roles(shop: Shop) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:8]
    names = Roles("", f"warden_login_{suffix}", f"warden_an_{suffix}", f"warden_oc_{suffix}", f"warden_st_{suffix}")
    anyio.run(
        run_sql,
        shop.admin,
        f"CREATE ROLE {names.login} LOGIN NOINHERIT; CREATE ROLE {names.analyst}; CREATE ROLE {names.oncall};"
        f" CREATE ROLE {names.stranger}; GRANT {names.analyst}, {names.oncall} TO {names.login};"
        f" GRANT USAGE ON SCHEMA public TO {names.analyst}, {names.oncall};"
        f" GRANT SELECT ON customers TO {names.analyst}; GRANT SELECT ON orders TO {names.oncall}",
    )
    try:
        yield Roles(with_user(shop.admin, names.login), *list(names.__dict__.values())[1:])
    finally:
        anyio.run(
            run_sql,
            shop.admin,
            f"DROP OWNED BY {names.analyst}, {names.oncall}; "
            f"DROP ROLE {names.login}, {names.analyst}, {names.oncall}, {names.stranger}",
        )

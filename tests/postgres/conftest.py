"""Fixtures for warden-postgres: a seeded shop on a real PostgreSQL, and servers built like production."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.postgres.shop import Shop, shop_database
from warden_core import WardenServer
from warden_postgres.server import build_server
from warden_postgres.settings import Settings

ServerFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def shop(pg_admin_dsn: str) -> Iterator[Shop]:
    with shop_database(pg_admin_dsn) as database:
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

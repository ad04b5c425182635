"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import postgres


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """A superuser DSN on a real PostgreSQL (local server from the environment, or embedded)."""
    with postgres.admin_dsn() as dsn:
        yield dsn


@pytest.fixture(scope="session")
def pg_contrib_dsn() -> str:
    """A superuser DSN on a PostgreSQL with tablefunc, xml2, dblink and postgres_fdw. Fails, never skips."""
    try:
        return postgres.contrib_dsn()
    except postgres.ContribUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)

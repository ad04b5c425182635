"""pytest plugin: fixtures every server's tests share."""

from __future__ import annotations

import pytest

from warden_core.testing.clients import ERAS


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    """Run the test once per protocol era."""
    return str(request.param)

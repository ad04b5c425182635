"""Fixtures for the interop tests: the npm-installed clients and the example server over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.clients import NotInstalled, NpmClients
from tests.interop.servers import HttpServer, http_server


@pytest.fixture(scope="session")
def npm_clients() -> NpmClients:
    """The pinned clients. A missing or stale install fails (never skips) with the command to fix it."""
    try:
        return NpmClients.locate()
    except NotInstalled as exc:
        pytest.fail(f"interop clients are not installed: {exc}", pytrace=False)


@pytest.fixture
def client_home(tmp_path: Path) -> Path:
    """A throwaway HOME for one client run (the Inspector writes ~/.mcp-inspector)."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture(scope="module")
def example_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """The example server over streamable HTTP on loopback, without auth (allowed on loopback only)."""
    with http_server(tmp_path_factory.mktemp("example-http")) as server:
        yield server


@pytest.fixture(scope="module")
def api_key() -> str:
    return "interop-" + secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def conformance_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """The example server with its conformance-suite fixture tools enabled (group `conformance`)."""
    env = {"WARDEN_EXAMPLE_GROUPS": "basic,store,conformance"}
    with http_server(tmp_path_factory.mktemp("conformance-http"), env) as server:
        yield server


@pytest.fixture(scope="module")
def example_http_with_key(tmp_path_factory: pytest.TempPathFactory, api_key: str) -> Iterator[HttpServer]:
    """The example server over HTTP, requiring the API key named `ci`."""
    with http_server(
        tmp_path_factory.mktemp("example-http-auth"), {"WARDEN_EXAMPLE_API_KEYS": f"ci:{api_key}"}
    ) as server:
        yield server

"""Fixtures for warden-github tests: a running fake GitHub and servers pointed at it.

Other suites can import `start_fake_github` (tests/github/fake_github.py) or use these fixtures
by adding `pytest_plugins = ["tests.github.conftest"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.github.fake_github import TOKEN, FakeGitHub, start_fake_github
from warden_core import WardenServer
from warden_github.server import build_server
from warden_github.settings import Settings

ALL_GROUPS = ("repos", "git", "issues", "pull_requests", "actions", "runs", "security", "context")
RUNS = ("runs",)  # the group of gh_list_runs, off by default
GIT = ("git",)  # the group of gh_get_repo and gh_list_commits, off by default


@pytest.fixture(scope="session")
def fake_github_server() -> Iterator[FakeGitHub]:
    """One fake for the session (stopping one costs half a second); `fake_github` restores it per test."""
    with start_fake_github() as fake:
        yield fake


@pytest.fixture
def fake_github(fake_github_server: FakeGitHub) -> FakeGitHub:
    fake_github_server.restore()
    return fake_github_server


def settings_for(fake: FakeGitHub | None, **overrides: Any) -> Settings:
    """Settings as an operator would write them, pointed at the fake (no token when `fake` is None)."""
    values: dict[str, Any] = {
        "repos": ("acme/api", "acme/web", "acme/private-tools"),
        "write_interval": 0,
        "audit_sink": "stderr",
    }
    if fake is not None:
        values |= {"token": fake.token, "api_url": fake.url}
    values |= overrides
    return Settings.load(**values)


@pytest.fixture
def make_server(fake_github: FakeGitHub) -> Iterator[Callable[..., WardenServer]]:
    """Build servers against the fake; each is closed at the end of the test."""
    import anyio

    built: list[WardenServer] = []

    def make(**overrides: Any) -> WardenServer:
        server = build_server(settings_for(fake_github, **overrides))
        built.append(server)
        return server

    yield make
    for server in built:
        anyio.run(server.aclose)


def writable(**overrides: Any) -> dict[str, Any]:
    """Overrides that enable the write tools for acme/api and acme/private-tools."""
    return {
        "read_only": False,
        "write_repos": ("acme/api", "acme/private-tools"),
        **overrides,
    }


__all__ = ["ALL_GROUPS", "GIT", "RUNS", "TOKEN", "settings_for", "writable"]

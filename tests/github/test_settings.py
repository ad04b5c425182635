"""Settings: allowlist patterns, the API URL (GitHub Enterprise too), and refusing configurations that cannot work."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.github.fake_github import FakeGitHub
from tests.github.helpers import data_of
from tests.support.fake_http import Response
from warden_core import SettingsError, WardenServer
from warden_core.cli import claude_config
from warden_core.testing import connect
from warden_github.server import APP
from warden_github.settings import Settings

pytestmark = pytest.mark.anyio


def test_repo_patterns_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_GITHUB_REPOS", "acme, other/lib ,team-*/docs")
    monkeypatch.setenv("WARDEN_GITHUB_WRITE_REPOS", "acme/sandbox")
    settings = Settings.load()
    assert settings.repos == ("acme/*", "other/lib", "team-*/docs")
    assert settings.write_repos == ("acme/sandbox",)
    assert settings.read_only is True and settings.lockdown is False


@pytest.mark.parametrize("pattern", ["acme/api/extra", "acme api", "https://github.com/acme", "acme/"])
def test_malformed_repo_pattern_stops_the_start(pattern: str) -> None:
    with pytest.raises(SettingsError, match="WARDEN_GITHUB_REPOS"):
        Settings.load(repos=(pattern,))


@pytest.mark.parametrize(
    "url",
    [
        "http://api.github.com",  # plain http off loopback
        "https://user:pass@ghe.example.com/api/v3",  # credentials in the URL
        "https://ghe.example.com/api/v3?x=1",
        "ftp://ghe.example.com",
    ],
)
def test_unsafe_api_url_stops_the_start(url: str) -> None:
    with pytest.raises(SettingsError, match="WARDEN_GITHUB_API_URL"):
        Settings.load(api_url=url)


def test_enterprise_and_loopback_urls_are_accepted() -> None:
    assert Settings.load(api_url="https://ghe.example.com/api/v3/").api_url == "https://ghe.example.com/api/v3"
    assert Settings.load(api_url="http://127.0.0.1:8080").api_url == "http://127.0.0.1:8080"


async def test_github_enterprise_base_url(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    server = make_server(api_url=fake_github.url + "/api/v3")
    async with connect(server) as client:
        repo = await client.call_tool("gh_get_file", {"repo": "acme/api", "path": "README.md"})
        issues = await client.call_tool("gh_list_issues", {"repo": "acme/api", "limit": 50})
        page2 = await client.call_tool(
            "gh_list_issues", {"repo": "acme/api", "limit": 50, "cursor": data_of(issues)["next_cursor"]}
        )
        logs = await client.call_tool("gh_get_job_logs", {"repo": "acme/api", "job_id": 777})
    assert not repo.is_error and not issues.is_error and not page2.is_error and not logs.is_error
    api_paths = [r.path for r in fake_github.requests if not r.path.startswith("/_blobs/")]
    assert api_paths and all(path.startswith("/api/v3/repos/acme/api") for path in api_paths)
    assert [r.param("page") for r in fake_github.calls(path_contains="/issues")] == ["1", "2"]


def test_claude_config_never_prints_the_token() -> None:
    settings = Settings.load(token="github_pat_11CLAUDE000000000000000_secretValue", repos=("acme/api",))
    entry = claude_config(APP, settings, with_secrets=False)["mcpServers"]["warden-github"]
    assert entry["args"] == ["-m", "warden_github"]
    assert entry["env"]["WARDEN_GITHUB_TOKEN"] == "<set this secret here>"
    assert entry["env"]["WARDEN_GITHUB_REPOS"] == "acme/api"


async def test_whoami_reports_identity_policy_and_rate(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, era: str
) -> None:
    server = make_server(read_only=False, write_repos=("acme/private-tools",), lockdown=True)
    async with connect(server, era) as client:
        me = data_of(await client.call_tool("gh_whoami", {}))
    assert (me["login"], me["type"], me["token_scopes"]) == ("octocat", "User", [])
    assert me["repos"] == ["acme/api", "acme/web", "acme/private-tools"]
    assert me["write_repos"] == ["acme/private-tools"] and me["read_only"] is False and me["lockdown"] is True
    assert me["rate"]["core"]["limit"] == 5000 and me["rate"]["search"]["remaining"] == 29


async def test_whoami_with_an_app_installation_token(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    fake_github.inject("GET", "/user", Response(403, {"message": "Resource not accessible by integration"}))
    async with connect(make_server()) as client:
        me = data_of(await client.call_tool("gh_whoami", {}))
    assert "login" not in me and me["type"] == "GitHub App installation"
    assert me["write_repos"] == [] and "core" in me["rate"]

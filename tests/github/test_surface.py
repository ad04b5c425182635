"""The tool surface: toolsnaps and manifests per mode, the contract, and which tools each setting exposes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.github.conftest import ALL_GROUPS, settings_for
from tests.github.helpers import text_of
from warden_core import Access, SettingsError
from warden_core.testing import check_contract, check_tools_list_budget, check_toolsnaps, connect, list_tools_json
from warden_github.server import build_server

pytestmark = pytest.mark.anyio

SNAPS = Path(__file__).parent / "__toolsnaps__"
WRITE_TOOLS = {"gh_create_issue", "gh_add_comment", "gh_add_labels", "gh_create_pull"}

MODES: dict[str, dict[str, Any]] = {
    # The server's defaults, as shipped: no credentials needed to list tools.
    "default": {},
    "read-only": {"groups": ALL_GROUPS, "read_only": True},
    "all": {"groups": ALL_GROUPS, "read_only": False, "allow_destructive": True, "write_repos": ("acme/api",)},
}


DEFAULT_TOOLS = [
    "gh_search",
    "gh_get_file",
    "gh_list_issues",
    "gh_get_issue",
    "gh_get_job_logs",
    "gh_security_alerts",
    "gh_whoami",
]
OFF_BY_DEFAULT = {"git": {"gh_get_repo", "gh_list_commits"}, "runs": {"gh_list_runs"}}


@pytest.mark.parametrize("mode", MODES)
async def test_toolsnaps_and_contract(mode: str) -> None:
    server = build_server(settings_for(None, **MODES[mode]))
    tools = await check_toolsnaps(server, SNAPS, mode)
    await check_contract(server, prefix="gh_")
    assert tools


async def test_default_surface_is_read_only_and_fits_the_context_budget() -> None:
    """The default tools/list has no mutating tool, and fits the budget every Warden server keeps."""
    server = build_server(settings_for(None))
    tools = await list_tools_json(server)
    assert [tool["name"] for tool in tools] == DEFAULT_TOOLS
    assert all(tool["annotations"]["readOnlyHint"] for tool in tools)
    await check_tools_list_budget(server)


async def test_rarely_used_reads_are_one_group_away() -> None:
    """Consolidation, not removal: every read stays reachable, some in groups that are off by default."""
    default = {spec.name for spec in build_server(settings_for(None)).exposed}
    for group, names in OFF_BY_DEFAULT.items():
        assert not names & default
        enabled = {spec.name for spec in build_server(settings_for(None, groups=(group,))).exposed}
        assert enabled == names
    everything = {spec.name for spec in build_server(settings_for(None, **MODES["read-only"])).exposed}
    assert everything == set(DEFAULT_TOOLS) | set().union(*OFF_BY_DEFAULT.values())


async def test_write_tools_need_read_only_off_and_a_write_allowlist() -> None:
    def exposed(**overrides: Any) -> set[str]:
        return {spec.name for spec in build_server(settings_for(None, **overrides)).exposed}

    assert not exposed() & WRITE_TOOLS
    assert not exposed(read_only=False) & WRITE_TOOLS, "an empty write allowlist hides every write tool"
    assert not exposed(write_repos=("acme/api",)) & WRITE_TOOLS, "read-only mode hides writes whatever the allowlist"
    assert exposed(read_only=False, write_repos=("acme/api",)) >= WRITE_TOOLS
    # Groups and tool lists still apply to writes.
    only_issues = exposed(read_only=False, write_repos=("acme/api",), groups=("issues",))
    assert only_issues == {"gh_list_issues", "gh_get_issue", "gh_create_issue", "gh_add_comment", "gh_add_labels"}
    excluded = exposed(read_only=False, write_repos=("acme/api",), exclude_tools=("gh_create_pull",))
    assert "gh_create_pull" not in excluded and "gh_create_issue" in excluded


async def test_write_and_read_never_share_a_tool() -> None:
    server = build_server(settings_for(None, **MODES["all"]))
    for spec in server.specs:
        assert (spec.access is Access.READ) == (spec.name not in WRITE_TOOLS), spec.name
        assert spec.access is not Access.DESTRUCTIVE, "nothing here destroys data"


async def test_unknown_group_or_tool_stops_the_start() -> None:
    with pytest.raises(SettingsError, match="WARDEN_GITHUB_GROUPS"):
        build_server(settings_for(None, groups=("repos", "gists")))
    with pytest.raises(SettingsError, match="WARDEN_GITHUB_TOOLS"):
        build_server(settings_for(None, tools=("gh_delete_repo",)))


async def test_lists_tools_without_credentials_and_names_the_setting_on_call(era: str) -> None:
    server = build_server(settings_for(None))
    async with connect(server, era) as client:
        listed = await client.list_tools()
        result = await client.call_tool("gh_get_file", {"repo": "acme/api"})
    assert len(listed.tools) == len(server.exposed)
    assert result.is_error
    assert "WARDEN_GITHUB_TOKEN" in text_of(result)

"""The tool surface: toolsnaps and manifests per mode, the contract, and which tools each setting exposes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.github.conftest import ALL_GROUPS, settings_for
from tests.github.helpers import text_of
from warden_core import Access, SettingsError
from warden_core.testing import check_contract, check_toolsnaps, connect, list_tools_json
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


def size(tools: list[dict[str, Any]]) -> int:
    """Characters of the tools/list payload, as compact JSON (what a client puts in the model's context)."""
    return len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))


@pytest.mark.parametrize("mode", MODES)
async def test_toolsnaps_and_contract(mode: str) -> None:
    server = build_server(settings_for(None, **MODES[mode]))
    tools = await check_toolsnaps(server, SNAPS, mode)
    await check_contract(server, prefix="gh_")
    assert tools


async def test_default_surface_is_read_only_and_small() -> None:
    """R-30: the default tools/list has no mutating tool; its size is pinned so growth is a review item."""
    server = build_server(settings_for(None))
    tools = await list_tools_json(server)
    names = {tool["name"] for tool in tools}
    assert not names & WRITE_TOOLS
    assert all(tool["annotations"]["readOnlyHint"] for tool in tools)
    assert {spec.group for spec in server.exposed} == set(ALL_GROUPS)
    # Measured: see the README. A budget, not a target: a bigger surface needs a deliberate change here.
    assert size(tools) < 35_500


async def test_write_tools_need_read_only_off_and_a_write_allowlist() -> None:
    def exposed(**overrides: Any) -> set[str]:
        return {spec.name for spec in build_server(settings_for(None, **overrides)).exposed}

    assert not exposed() & WRITE_TOOLS
    assert not exposed(read_only=False) & WRITE_TOOLS, "an empty write allowlist hides every write tool"
    assert not exposed(write_repos=("acme/api",)) & WRITE_TOOLS, "read-only mode hides writes whatever the allowlist"
    assert exposed(read_only=False, write_repos=("acme/api",)) >= WRITE_TOOLS
    # Groups and tool lists still apply to writes.
    only_issues = exposed(read_only=False, write_repos=("acme/api",), groups=("issues",))
    assert only_issues == {
        "gh_list_issues",
        "gh_search_issues",
        "gh_get_issue",
        "gh_list_labels",
        "gh_create_issue",
        "gh_add_comment",
        "gh_add_labels",
    }
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
        result = await client.call_tool("gh_get_repo", {"repo": "acme/api"})
    assert len(listed.tools) == len(server.exposed)
    assert result.is_error
    assert "WARDEN_GITHUB_TOKEN" in text_of(result)

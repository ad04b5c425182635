"""The tool surface: toolsnaps and manifests per mode, the contract, settings, and running unconfigured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.slack.fake_slack import BOT_TOKEN, USER_TOKEN
from warden_core import SettingsError
from warden_core.testing import check_contract, check_tools_list_budget, check_toolsnaps, connect, list_tools_json
from warden_slack.server import build_server
from warden_slack.settings import Settings

pytestmark = pytest.mark.anyio

SNAPS = Path(__file__).parent / "__toolsnaps__"
ALL_GROUPS = "channels,files,search,users,messages"
WRITES = {"slack_post_message", "slack_reply_in_thread", "slack_add_reaction"}

MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "read-only": {"groups": ALL_GROUPS},
    "all": {"groups": ALL_GROUPS, "read_only": False, "write_channels": "C01GENERAL", "user_token": USER_TOKEN},
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("WARDEN_SLACK_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("mode", MODES)
async def test_toolsnaps_and_contract(mode: str) -> None:
    server = build_server(Settings.load(**MODES[mode]))
    tools = await check_toolsnaps(server, SNAPS, mode)
    await check_contract(server, prefix="slack_")
    names = {tool["name"] for tool in tools}
    assert bool(names & WRITES) is (mode == "all")


async def test_default_surface_is_read_only_and_fits_the_context_budget() -> None:
    server = build_server(Settings.load())
    tools = await list_tools_json(server)
    assert [t["name"] for t in tools] == [
        "slack_list_channels",
        "slack_channel_history",
        "slack_thread_replies",
        "slack_get_message",
        "slack_list_files",
        "slack_read_file",
        "slack_find_users",
        "slack_get_user_profile",
    ]
    assert all(t["annotations"]["readOnlyHint"] for t in tools)
    await check_tools_list_budget(server)
    # With a user token, search joins the default surface: that must fit too.
    await check_tools_list_budget(build_server(Settings.load(user_token=USER_TOKEN)))


async def test_search_is_listed_by_default_only_with_a_user_token() -> None:
    without = {t["name"] for t in await list_tools_json(build_server(Settings.load(bot_token=BOT_TOKEN)))}
    with_user = {t["name"] for t in await list_tools_json(build_server(Settings.load(user_token=USER_TOKEN)))}
    assert "slack_search_messages" not in without
    assert "slack_search_messages" in with_user


async def test_writes_stay_hidden_without_a_write_allowlist() -> None:
    server = build_server(Settings.load(read_only=False))
    assert not {spec.name for spec in server.exposed} & WRITES
    assert "WARDEN_SLACK_WRITE_CHANNELS is empty" in (server.policy.hidden_because(server.specs[-1]) or "")


async def test_unconfigured_server_starts_lists_and_names_the_missing_setting(era: str) -> None:
    server = build_server(Settings.load(channels="general"))
    async with connect(server, era) as client:
        listed = await client.list_tools()
        result = await client.call_tool("slack_channel_history", {"channel": "#general"})
    assert len(listed.tools) == 8
    assert result.is_error
    assert "set WARDEN_SLACK_BOT_TOKEN" in result.content[0].text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"write_channels": "general"}, "WARDEN_SLACK_WRITE_CHANNELS: entries must be channel ids"),
        ({"bot_token": USER_TOKEN}, "WARDEN_SLACK_BOT_TOKEN: must be a bot token"),
        ({"user_token": BOT_TOKEN}, "WARDEN_SLACK_USER_TOKEN: must be a user token"),
        ({"api_url": "http://slack.example/api/"}, "WARDEN_SLACK_API_URL: must use https"),
        ({"api_url": "https://user:pw@slack.com/api/"}, "without credentials"),
        ({"channels": "general,bad name"}, "WARDEN_SLACK_CHANNELS"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_setting(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match="invalid setting") as caught:
        Settings.load(**overrides)
    assert message in str(caught.value)
    assert "FakeBotToken" not in str(caught.value) and "FakeUserToken" not in str(caught.value)


def test_settings_normalize_channels_and_url() -> None:
    settings = Settings.load(channels="C01GENERAL, #Eng-Backend ,eng-*,C04*", api_url="http://127.0.0.1:9/api")
    assert settings.channels == ("C01GENERAL", "#eng-backend", "#eng-*", "C04*")
    assert settings.api_url == "http://127.0.0.1:9/api/"


def test_cli_tools_command_needs_no_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    from warden_core.cli import run
    from warden_slack.server import APP

    assert run(APP, ["tools"]) == 0
    described = json.loads(capsys.readouterr().out)
    by_name = {tool["name"]: tool for tool in described}
    assert by_name["slack_post_message"]["hidden_because"] == "server is read-only"
    assert by_name["slack_search_messages"]["hidden_because"] == "group 'search' is not enabled"

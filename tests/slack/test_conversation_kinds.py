"""DMs and group DMs are told apart by Slack's own flags (`is_im`, `is_mpim`), never by id prefixes.

A group DM can have a `C` id like any channel (`MPIM_C` in the fake), so an allowlist of `*` or
`C*` admits its id; with DMs off it must still be refused, for reads and for posts, before any
call that reads or writes its messages. The token in these tests can read group DMs (as one
granted DM scopes for another use would), so every refusal is the server's, not Slack's.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.slack.conftest import slack_settings
from tests.slack.fake_slack import (
    BOT_SCOPES,
    BOT_TOKEN,
    ENG,
    FINANCE,
    GENERAL,
    LEGACY_PRIVATE,
    MPIM_C,
    FakeSlack,
    ok,
)
from tests.slack.helpers import call, call_error
from warden_slack.server import build_server

pytestmark = pytest.mark.anyio

DM_SCOPES = frozenset({"im:read", "im:history", "mpim:read", "mpim:history"})
DMS_OFF = "direct messages and group DMs are off (WARDEN_SLACK_ALLOW_DMS)"


def conversation_calls(fake: FakeSlack) -> list[str]:
    """The conversations.* methods called, in order (author names come from users.info besides)."""
    return [call.method for call in fake.calls() if call.method.startswith("conversations.")]


def permalink(channel: str, ts: str) -> str:
    return f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"


@pytest.mark.parametrize("channels", ["*", "C*"])  # the allowlist is the subject: the shapes that admit any C id
async def test_a_group_dm_with_a_channel_id_is_not_read(fake_slack: FakeSlack, channels: str) -> None:
    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES | DM_SCOPES)
    server = build_server(slack_settings(fake_slack, channels=channels, user_token=True, groups="channels,search"))
    ts = fake_slack.workspace.messages[MPIM_C][0]["ts"]
    for tool, arguments in [
        ("slack_channel_history", {"channel": MPIM_C}),
        ("slack_thread_replies", {"channel": MPIM_C, "ts": ts}),
        ("slack_get_message", {"permalink": permalink(MPIM_C, ts)}),
        ("slack_search_messages", {"query": "CANARY", "channel": MPIM_C}),
    ]:
        assert DMS_OFF in await call_error(server, tool, arguments), tool
    # One question about the conversation's kind, answered once; nothing about its messages.
    assert [call.method for call in fake_slack.calls()] == ["conversations.info"]


async def test_a_group_dm_is_refused_even_when_slack_will_not_describe_it(fake_slack: FakeSlack) -> None:
    """Without `mpim:read`, conversations.info answers missing_scope(mpim:read): that too says it is a group DM."""
    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES | {"mpim:history"})
    server = build_server(slack_settings(fake_slack, channels="*"))
    assert DMS_OFF in await call_error(server, "slack_channel_history", {"channel": MPIM_C})
    assert DMS_OFF in await call_error(server, "slack_channel_history", {"channel": MPIM_C})
    assert [call.method for call in fake_slack.calls()] == ["conversations.info"]


async def test_a_conversation_slack_cannot_describe_is_not_read(fake_slack: FakeSlack) -> None:
    """Any other failure to learn the kind refuses too, and says what is missing."""
    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES - {"channels:read"})
    server = build_server(slack_settings(fake_slack))
    error = await call_error(server, "slack_channel_history", {"channel": GENERAL})
    assert "lacks the scope channels:read that conversations.info needs" in error
    assert not fake_slack.calls("conversations.history")


async def test_a_group_dm_with_a_channel_id_is_not_posted_to(fake_slack: FakeSlack) -> None:
    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES | DM_SCOPES)
    server = build_server(slack_settings(fake_slack, read_only=False, write_channels="C*"))
    ts = fake_slack.workspace.messages[MPIM_C][0]["ts"]
    for tool, arguments in [
        ("slack_post_message", {"channel": MPIM_C, "text": "CANARY-LEAK"}),
        ("slack_reply_in_thread", {"channel": MPIM_C, "thread_ts": ts, "text": "CANARY-LEAK"}),
        ("slack_add_reaction", {"channel": MPIM_C, "ts": ts, "emoji": "eyes"}),
    ]:
        assert DMS_OFF in await call_error(server, tool, arguments), tool
    assert [call.method for call in fake_slack.calls()] == ["conversations.info"]
    # The same allowlist still posts to a channel.
    await call(server, "slack_post_message", {"channel": GENERAL, "text": "deploy done"})
    assert [call.params["channel"] for call in fake_slack.calls("chat.postMessage")] == [GENERAL]


async def test_a_conversations_kind_costs_at_most_one_request(fake_slack: FakeSlack) -> None:
    server = build_server(slack_settings(fake_slack))
    for _ in range(3):
        await call(server, "slack_channel_history", {"channel": GENERAL})
    assert conversation_calls(fake_slack) == ["conversations.info"] + ["conversations.history"] * 3

    # A conversation the directory lists needs none: its flags came with the listing.
    listed = build_server(slack_settings(fake_slack, channels="*"))
    await call(listed, "slack_list_channels")
    fake_slack.reset_log()
    await call(listed, "slack_channel_history", {"channel": ENG})
    assert conversation_calls(fake_slack) == ["conversations.history"]


async def test_a_private_channel_with_a_g_id_is_a_channel(fake_slack: FakeSlack) -> None:
    """The prefix decides nothing the other way either: a `G` id can be a private channel, read as one."""
    server = build_server(slack_settings(fake_slack, channels=LEGACY_PRIVATE))
    page = await call(server, "slack_channel_history", {"channel": LEGACY_PRIVATE})
    assert [message["text"] for message in page["messages"]] == ["runbook moved to the wiki"]
    assert conversation_calls(fake_slack) == ["conversations.info", "conversations.history"]


async def test_with_dms_on_an_allowed_group_dm_is_read_without_asking_its_kind(fake_slack: FakeSlack) -> None:
    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES | DM_SCOPES)
    server = build_server(slack_settings(fake_slack, channels=MPIM_C, allow_dms=True))
    page = await call(server, "slack_channel_history", {"channel": MPIM_C})
    assert "CANARY-MPIM-C-9999" in page["messages"][0]["text"]
    assert conversation_calls(fake_slack) == ["conversations.history"]


async def test_search_drops_group_dm_matches_by_their_flags(fake_slack: FakeSlack) -> None:
    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES | DM_SCOPES)
    server = build_server(slack_settings(fake_slack, channels="*", user_token=True))
    found = await call(server, "slack_search_messages", {"query": "CANARY"})
    # Slack matched #finance, the DM and both group DMs; only the channel comes back.
    assert [match["channel"]["id"] for match in found["matches"]] == [FINANCE]
    assert not fake_slack.calls("conversations.info"), "search results carry each conversation's flags"


def match(channel: dict[str, Any], text: str, ts: str) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "user": "U01BOB0002", "text": text, "ts": ts}


async def test_a_search_match_without_flags_is_described_before_it_is_shown(fake_slack: FakeSlack) -> None:
    """Were Slack to omit the flags, a match would count as a group DM until conversations.info said otherwise."""
    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES | DM_SCOPES)
    matches = [
        match({"id": MPIM_C, "name": "mpdm-alice--mallory--warden-1"}, "CANARY-MPIM-C-9999", "1767225600.000100"),
        match({"id": GENERAL, "name": "general"}, "deploy CANARY-GENERAL", "1767225600.000200"),
    ]
    fake_slack.inject("search.messages", ok(messages={"matches": matches, "paging": {"pages": 1}}))
    server = build_server(slack_settings(fake_slack, channels="*", user_token=True))
    found = await call(server, "slack_search_messages", {"query": "CANARY"})
    assert [m["channel"]["id"] for m in found["matches"]] == [GENERAL]
    assert sorted(call.params["channel"] for call in fake_slack.calls("conversations.info")) == [GENERAL, MPIM_C]

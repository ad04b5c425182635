"""Writes: off by default, only to the write allowlist, never unfurling, never pinging."""

from __future__ import annotations

import json

import pytest

from tests.slack.conftest import slack_settings
from tests.slack.fake_slack import BOT_SCOPES, BOT_TOKEN, DM_ALICE, ENG, FINANCE, GENERAL, RANDOM, FakeSlack, Response
from tests.slack.helpers import call, call_error
from warden_core.testing import connect
from warden_slack.server import build_server

pytestmark = pytest.mark.anyio


def writer(fake: FakeSlack, **overrides: object) -> object:
    values: dict[str, object] = {"read_only": False, "write_channels": f"{GENERAL},{ENG},{RANDOM},{DM_ALICE}"}
    values.update(overrides)
    return build_server(slack_settings(fake, **values))


def _assert_inert(params: dict[str, str]) -> None:
    # The request Slack received: JSON booleans, so "false" (not "0", not absent).
    assert params["unfurl_links"] == "false"
    assert params["unfurl_media"] == "false"
    assert params["link_names"] == "false"
    assert params["parse"] == "none"


async def test_post_is_escaped_and_never_unfurls(fake_slack: FakeSlack, era: str) -> None:
    server = writer(fake_slack)
    text = "Summary: <!channel> deploy ok, see <https://evil.example/?d=secret|docs> & ping <@U01ALICE01>\u200b"
    posted = await call(server, "slack_post_message", {"channel": GENERAL, "text": text}, era)
    assert posted["channel"] == GENERAL and posted["ts"]
    (request,) = fake_slack.calls("chat.postMessage")
    _assert_inert(request.params)
    assert request.request.headers["content-type"].startswith("application/json")
    body = json.loads(request.request.body)
    assert body["unfurl_links"] is False and body["unfurl_media"] is False
    assert body["text"] == (
        "Summary: &lt;!channel&gt; deploy ok, see &lt;https://evil.example/?d=secret|docs&gt; "
        "&amp; ping &lt;@U01ALICE01&gt;"
    )
    assert "thread_ts" not in body
    # What Slack stored reads back as plain text: no ping, no link.
    page = await call(server, "slack_channel_history", {"channel": GENERAL, "limit": 1}, era)
    assert page["messages"][0]["text"].startswith("Summary: @channel deploy ok, see docs (hxxps://evil[.]example/")


async def test_reply_in_thread_and_reaction(fake_slack: FakeSlack, era: str) -> None:
    server = writer(fake_slack)
    parent = fake_slack.workspace.messages[ENG][0]["ts"]
    reply = await call(
        server,
        "slack_reply_in_thread",
        {"channel": ENG, "thread_ts": parent, "text": "Looks good https://x.example"},
        era,
    )
    assert reply["thread_ts"] == parent
    (request,) = fake_slack.calls("chat.postMessage")
    _assert_inert(request.params)
    assert request.params["thread_ts"] == parent and request.params["reply_broadcast"] == "false"

    reacted = await call(
        server, "slack_add_reaction", {"channel": ENG, "ts": parent, "emoji": ":white_check_mark:"}, era
    )
    assert reacted == {"channel": ENG, "ts": parent, "emoji": "white_check_mark"}
    assert fake_slack.calls("reactions.add")[-1].params == {
        "channel": ENG,
        "timestamp": parent,
        "name": "white_check_mark",
    }
    again = await call(server, "slack_add_reaction", {"channel": ENG, "ts": parent, "emoji": "white_check_mark"}, era)
    assert again["already"] is True


async def test_writes_outside_the_write_allowlist_make_no_call(fake_slack: FakeSlack, era: str) -> None:
    server = writer(fake_slack, write_channels=GENERAL)
    parent = fake_slack.workspace.messages[ENG][0]["ts"]
    for tool, arguments in (
        ("slack_post_message", {"channel": FINANCE, "text": "leak"}),
        ("slack_reply_in_thread", {"channel": ENG, "thread_ts": parent, "text": "hi"}),
        ("slack_add_reaction", {"channel": ENG, "ts": parent, "emoji": "eyes"}),
    ):
        error = await call_error(server, tool, arguments, era)
        assert "is not allowed by this server's policy (WARDEN_SLACK_WRITE_CHANNELS)" in error
    # A channel name is not accepted where a write needs an id (the allowlist of ids refuses it first).
    refusal = await call_error(server, "slack_post_message", {"channel": "#general", "text": "x"})
    assert "'#general' is not allowed by this server's policy (WARDEN_SLACK_WRITE_CHANNELS)" in refusal
    assert fake_slack.calls() == []


async def test_dm_writes_need_the_dm_switch(fake_slack: FakeSlack) -> None:
    server = writer(fake_slack)
    error = await call_error(server, "slack_post_message", {"channel": DM_ALICE, "text": "hi"})
    assert "direct messages and group DMs are off" in error and not fake_slack.calls()
    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES | {"im:read", "mpim:read"})
    server = writer(fake_slack, allow_dms=True)
    await call(server, "slack_post_message", {"channel": DM_ALICE, "text": "hi"})
    _assert_inert(fake_slack.calls("chat.postMessage")[-1].params)


async def test_write_errors_are_clear_and_never_retried(fake_slack: FakeSlack) -> None:
    server = writer(fake_slack)
    error = await call_error(server, "slack_post_message", {"channel": RANDOM, "text": "hi"})
    assert "not a member of channel C01RANDOM0" in error

    fake_slack.scopes(BOT_TOKEN, BOT_SCOPES - {"chat:write"})
    error = await call_error(server, "slack_post_message", {"channel": GENERAL, "text": "hi"})
    assert "lacks the scope chat:write that chat.postMessage needs" in error

    fake_slack.reset()
    fake_slack.inject("chat.postMessage", Response(503, "busy"))
    error = await call_error(server, "slack_post_message", {"channel": GENERAL, "text": "hi"})
    assert "the write may or may not have happened" in error
    assert len(fake_slack.calls("chat.postMessage")) == 1  # a post is never repeated on its own


async def test_write_tools_are_listed_only_when_enabled(fake_slack: FakeSlack) -> None:
    async with connect(build_server(slack_settings(fake_slack, write_channels=GENERAL))) as client:
        read_only = {tool.name for tool in (await client.list_tools()).tools}
    async with connect(writer(fake_slack)) as client:
        enabled = {tool.name for tool in (await client.list_tools()).tools}
    writes = {"slack_post_message", "slack_reply_in_thread", "slack_add_reaction"}
    assert not read_only & writes and writes <= enabled

"""Real transports: a stdio subprocess (`python -m warden_slack`) and streamable HTTP with an API key."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.slack.conftest import slack_settings
from tests.slack.fake_slack import BOT_TOKEN, GENERAL, FakeSlack
from tests.support.live_http import serve_http
from warden_slack.server import build_server

pytestmark = pytest.mark.anyio

API_KEY = "agent-key-0123456789abcdef-never-forwarded"


async def test_stdio_subprocess(fake_slack: FakeSlack) -> None:
    env = {
        "WARDEN_SLACK_BOT_TOKEN": BOT_TOKEN,
        "WARDEN_SLACK_API_URL": fake_slack.url,
        "WARDEN_SLACK_CHANNELS": "general",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "warden_slack"], env=env)
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            tools = await client.list_tools()
            result = await client.call_tool("slack_channel_history", {"channel": "#general", "limit": 2})
            refused = await client.call_tool("slack_channel_history", {"channel": "#finance"})
    assert "slack_channel_history" in {tool.name for tool in tools.tools}
    assert not result.is_error and len(result.structured_content["messages"]) == 2
    assert refused.is_error and "WARDEN_SLACK_CHANNELS" in refused.content[0].text
    assert fake_slack.calls("conversations.history")[0].params["channel"] == GENERAL


@contextmanager
def serving_http(fake: FakeSlack) -> Iterator[str]:
    with serve_http(build_server(slack_settings(fake, api_keys=f"agent:{API_KEY}", port=8104))) as base:
        yield f"{base}/mcp"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_http_with_api_key_and_no_token_passthrough(fake_slack: FakeSlack, mode: str) -> None:
    with serving_http(fake_slack) as url:
        async with httpx2.AsyncClient() as anonymous:
            denied = await anonymous.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert denied.status_code == 401

        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
        async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            result = await client.call_tool("slack_channel_history", {"channel": GENERAL, "limit": 3})
    assert not result.is_error and len(result.structured_content["messages"]) == 3
    # The caller's credential authenticates it to Warden and stops there.
    assert fake_slack.calls()
    for call in fake_slack.calls():
        seen = repr(call.request.headers) + call.request.body.decode()
        assert API_KEY not in seen
        assert call.request.headers["authorization"] == f"Bearer {BOT_TOKEN}"

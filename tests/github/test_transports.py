"""Real transports: `python -m warden_github` over stdio, and streamable HTTP with an API key.

Over HTTP the client's bearer credential authenticates the client to Warden and stops there:
GitHub only ever sees the server's own token (R-04).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.github.conftest import settings_for
from tests.github.fake_github import FakeGitHub
from tests.github.helpers import data_of, text_of
from tests.support.live_http import serve_http
from warden_github.server import build_server

pytestmark = pytest.mark.anyio

INBOUND_KEY = "wk_inbound_client_credential_7f3a9c2e5b1d"


async def test_stdio_subprocess(fake_github: FakeGitHub) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "WARDEN_GITHUB_TOKEN": fake_github.token,
        "WARDEN_GITHUB_API_URL": fake_github.url,
        "WARDEN_GITHUB_REPOS": "acme/api",
        "WARDEN_GITHUB_LOCKDOWN": "true",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "warden_github"], env=env)
    async with Client(params) as client:
        tools = await client.list_tools()
        issue = await client.call_tool("gh_get_issue", {"repo": "acme/api", "number": 7})
        refused = await client.call_tool("gh_get_issue", {"repo": "acme/secret", "number": 3})
    names = {tool.name for tool in tools.tools}
    assert "gh_get_job_logs" in names and "gh_create_issue" not in names
    assert not issue.is_error, text_of(issue)
    assert issue.structured_content is not None
    assert data_of(issue)["issue"]["body"].startswith("[withheld by lockdown mode")
    assert refused.is_error and "WARDEN_GITHUB_REPOS" in text_of(refused)
    # The issue and its comments are fetched concurrently; the refused call made no request.
    assert sorted(r.path for r in fake_github.requests) == [
        "/repos/acme/api/issues/7",
        "/repos/acme/api/issues/7/comments",
    ]


@contextmanager
def serving_http(fake: FakeGitHub) -> Iterator[str]:
    with serve_http(build_server(settings_for(fake, api_keys=(f"ci:{INBOUND_KEY}",)))) as base:
        yield f"{base}/mcp"


@pytest.fixture
def http_url(fake_github: FakeGitHub) -> Iterator[str]:
    with serving_http(fake_github) as url:
        yield url


async def test_http_with_an_api_key_never_forwards_the_client_credential(
    http_url: str, fake_github: FakeGitHub, era: str
) -> None:
    headers = {"Authorization": f"Bearer {INBOUND_KEY}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(
            streamable_http_client(http_url, http_client=http), mode="legacy" if era == "legacy" else "auto"
        ) as client,
    ):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("gh_get_file", {"repo": "acme/api", "path": "README.md"}),
            ("gh_get_issue", {"repo": "acme/api", "number": 12, "part": "checks"}),
            ("gh_get_job_logs", {"repo": "acme/api", "pull": 12}),
            ("gh_search", {"query": "crash", "kind": "issues"}),
            ("gh_security_alerts", {"kind": "secret_scanning"}),
            ("gh_whoami", {}),
        ]
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, (tool, text_of(result))
    assert len(fake_github.requests) >= 10
    for request in fake_github.requests:
        seen = repr((request.path, request.query, request.headers, request.body))
        assert INBOUND_KEY not in seen, f"the client's credential reached GitHub in {request.path}"
        if not request.path.startswith("/_blobs/"):
            assert request.headers["authorization"] == f"token {fake_github.token}"


async def test_http_refuses_a_caller_without_the_key(http_url: str, fake_github: FakeGitHub) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(http_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401
    assert fake_github.requests == []

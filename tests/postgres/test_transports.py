"""Real transports: `python -m warden_postgres` over stdio, and the HTTP app behind uvicorn with an API key."""

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

from tests.postgres.conftest import settings_for
from tests.postgres.shop import Shop
from tests.support.live_http import serve_http
from warden_core.auth import hash_api_key
from warden_postgres.server import build_server

pytestmark = pytest.mark.anyio

API_KEY = "warden-test-key-0123456789abcdef"
MODES = ["legacy", "auto"]


async def exercise(client: Client) -> None:
    """What every transport must carry: discovery, a query, and a refusal."""
    names = [tool.name for tool in (await client.list_tools()).tools]
    assert names == ["pg_list_schemas", "pg_list_tables", "pg_describe_table", "pg_query", "pg_explain"]
    counted = await client.call_tool("pg_query", {"sql": "SELECT count(*) FROM customers"})
    assert not counted.is_error and counted.structured_content["rows"] == [[12]]
    refused = await client.call_tool("pg_query", {"sql": "COMMIT; DROP TABLE customers"})
    assert refused.is_error and "exactly one SQL statement" in refused.content[0].text
    still = await client.call_tool("pg_query", {"sql": "SELECT count(*) FROM customers"})
    assert still.structured_content["rows"] == [[12]]


async def test_stdio_subprocess(shop: Shop) -> None:
    """Handshake era here; the demo test drives the same subprocess in the stateless era."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "WARDEN_POSTGRES_DSN": shop.readonly,
        "WARDEN_POSTGRES_STRICT_ROLE": "true",
        "WARDEN_POSTGRES_LOG_LEVEL": "WARNING",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "warden_postgres"], env=env)
    async with Client(params, mode="legacy") as client:
        await exercise(client)


@contextmanager
def serving(settings: Any) -> Iterator[str]:
    """The production HTTP app on 127.0.0.1 (a free port)."""
    with serve_http(build_server(settings)) as base:
        yield f"{base}/mcp"


@pytest.mark.parametrize("mode", MODES)
async def test_http_with_an_api_key(shop: Shop, mode: str) -> None:
    settings = settings_for(shop.readonly, transport="http", api_keys=f"tests:{hash_api_key(API_KEY)}")
    with serving(settings) as url:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(url, http_client=http), mode=mode) as client,
        ):
            await exercise(client)
        async with httpx2.AsyncClient(timeout=30) as anonymous:
            response = await anonymous.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert response.status_code == 401

"""Real transports against moto's threaded server on 127.0.0.1: `python -m warden_aws` over stdio, and
streamable HTTP with an API key, in both protocol eras."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.aws.conftest import ACCOUNT, FAKE_ENV, REGION, data, make_server, text_of
from tests.support.live_http import serve_http
from tests.support.stdio import StdioProcess, request

pytestmark = pytest.mark.anyio

INBOUND_KEY = "wk_inbound_client_credential_9c1e4a7b2d"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=FAKE_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket="acme-reports")
    s3.put_object(Bucket="acme-reports", Key="2026/11/summary.csv", Body=b"a,b\n")
    try:
        yield url
    finally:
        server.stop()


async def test_stdio_subprocess(moto_url: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        **FAKE_ENV,
        "WARDEN_AWS_ENDPOINT_URL": moto_url,
        "WARDEN_AWS_ACCOUNTS": ACCOUNT,
        "WARDEN_AWS_SERVICES": "*",
        "WARDEN_AWS_GROUPS": "identity,api,inventory",  # aws_s3_objects is in inventory, off by default
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "warden_aws"], env=env)
    async with Client(params) as client:
        tools = await client.list_tools()
        who = await client.call_tool("aws_whoami", {})
        listing = await client.call_tool("aws_s3_objects", {"bucket": "acme-reports", "recursive": True})
        secret = await client.call_tool(
            "aws_call", {"service": "secretsmanager", "operation": "GetSecretValue", "parameters": {"SecretId": "db"}}
        )
    assert [tool.name for tool in tools.tools] == [
        "aws_whoami",
        "aws_call",
        "aws_ec2_instances",
        "aws_s3_buckets",
        "aws_s3_objects",
        "aws_lambda_functions",
    ]
    assert data(who)["account"] == ACCOUNT
    assert [e["key"] for e in data(listing)["entries"]] == ["2026/11/summary.csv"]
    assert secret.is_error and "sensitive" in text_of(secret)


def test_an_ordinary_session_ends_without_warnings(moto_url: str) -> None:
    """The worker threads that ran the calls are idle at exit, not blocked: nothing is said about them."""
    env = {**FAKE_ENV, "WARDEN_AWS_ENDPOINT_URL": moto_url, "WARDEN_AWS_ACCOUNTS": ACCOUNT, "WARDEN_AWS_SERVICES": "*"}
    process = StdioProcess(["-m", "warden_aws"], env=env)
    try:
        process.send(
            request(1, "tools/call", {"name": "aws_call", "arguments": {"service": "s3", "operation": "ListBuckets"}})
        )
        answer = process.answers({1})[1]
        process.close_stdin()
        assert process.wait(30) == 0
    finally:
        process.kill()
    assert not answer["result"].get("isError"), answer
    assert "WARNING" not in process.stderr.decode(), process.stderr.decode()
    # stderr is not a terminal here: log records and the audit event are all JSON lines.
    lines = [json.loads(line) for line in process.stderr.decode().splitlines() if line.strip()]
    assert [line["request_id"] for line in lines if line.get("method") == "tools/call"] == ["1"]
    assert all("level" in line and "logger" in line for line in lines if "method" not in line), lines


@contextmanager
def serving_http(moto_url: str) -> Iterator[str]:
    server = make_server(endpoint_url=moto_url, api_keys=(f"ci:{INBOUND_KEY}",), accounts=(ACCOUNT,))
    with serve_http(server) as base:
        yield f"{base}/mcp"


@pytest.fixture
def http_url(moto_url: str) -> Iterator[str]:
    with serving_http(moto_url) as url:
        yield url


async def test_http_with_an_api_key(http_url: str, era: str) -> None:
    headers = {"Authorization": f"Bearer {INBOUND_KEY}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(
            streamable_http_client(http_url, http_client=http), mode="legacy" if era == "legacy" else "auto"
        ) as client,
    ):
        who = await client.call_tool("aws_whoami", {})
        buckets = await client.call_tool("aws_s3_buckets", {})
        cost = await client.call_tool("aws_cost", {"start": "2026-10-01", "end": "2026-11-01"})
    assert data(who)["account"] == ACCOUNT
    assert [b["name"] for b in data(buckets)["buckets"]] == ["acme-reports"]
    assert data(cost)["periods"] == []  # moto tracks no spend; the request went through


async def test_http_refuses_a_caller_without_the_key(http_url: str) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(http_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401

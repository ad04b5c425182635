"""Raw JSON-RPC fuzzing: the server never crashes, never leaks a traceback, and answers every request once."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.example_server import ExampleSettings, build_server
from tests.core.test_http import API_KEY, PROTOCOL, post, result_of, rpc
from tests.support.live_http import serve_http
from tests.support.stdio import EXAMPLE, StdioProcess, request

METHODS = ["tools/list", "tools/call", "initialize", "server/discover", "resources/list", "prompts/get", "ping"]
TOOLS = ["ex_echo", "ex_list_items", "ex_slow", "ex_nope"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
envelopes = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "1.0", 2]),
        "id": st.integers(-(2**70), 2**70) | st.text(max_size=20) | st.none() | json_values,
        "method": st.sampled_from(METHODS) | st.text(max_size=30) | json_values,
        "params": json_values
        | st.fixed_dictionaries(
            {"name": st.sampled_from(TOOLS) | json_values, "arguments": json_values},
            optional={"_meta": json_values},
        ),
    },
).flatmap(lambda env: st.sets(st.sampled_from(sorted(env)), max_size=len(env)).map(lambda drop: _without(env, drop)))
bodies = st.one_of(
    st.binary(max_size=500),
    json_values.map(json.dumps),
    envelopes.map(json.dumps),
    st.integers(1_000, 200_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1_000, 200_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.integers(100_000, 3_000_000).map(
        lambda n: json.dumps(rpc("tools/call", {"name": "ex_echo", "arguments": {"text": "x" * n}}))
    ),
)


def _without(envelope: dict[str, Any], drop: set[str]) -> dict[str, Any]:
    return {k: v for k, v in envelope.items() if k not in drop or k == "jsonrpc"}


def assert_no_leak(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text[:500]


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    server = build_server(ExampleSettings.load(api_keys=(f"ci:{API_KEY}",), rate_limit="100000/minute"))
    with serve_http(server) as base:
        yield base


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, modern=st.booleans())
def test_http_answers_every_body_with_one_well_formed_response(
    http_server: str, body: str | bytes, modern: bool
) -> None:
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    if modern:
        headers |= {"MCP-Protocol-Version": PROTOCOL, "Mcp-Method": "tools/call", "Mcp-Name": "ex_echo"}
    response = httpx.post(f"{http_server}/mcp", content=body, headers=headers, timeout=30)
    assert response.status_code in {200, 202, 400, 404, 405, 406, 413, 415, 422}, response.text[:300]
    assert_no_leak(response.text)
    if response.headers.get("content-type", "").startswith("application/json") and response.content:
        message = response.json()
        assert message.get("jsonrpc") == "2.0" and ("result" in message or "error" in message), message
    # The server is still there and still right.
    assert result_of(post(http_server, rpc("tools/list"), API_KEY))["tools"]


@pytest.fixture(scope="module")
def stdio_server() -> Iterator[StdioProcess]:
    process = StdioProcess([str(EXAMPLE)], env={"WARDEN_EXAMPLE_RATE_LIMIT": "100000/minute"})
    yield process
    process.kill()


sentinels = itertools.count(10**9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    line=st.one_of(
        st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" ")), envelopes.map(json.dumps).map(str.encode)
    )
)
def test_stdio_answers_each_request_once_and_writes_only_json_rpc(stdio_server: StdioProcess, line: bytes) -> None:
    fuzz = _as_request(line)
    stdio_server.send(line)
    sentinel = next(sentinels)
    stdio_server.send(request(sentinel, "tools/list"))
    seen: list[dict[str, Any]] = []
    while True:
        message = stdio_server.receive(timeout=15)
        assert "_not_json" not in message, message
        assert message.get("jsonrpc") == "2.0"
        assert_no_leak(json.dumps(message))
        if message.get("id") == sentinel:
            break
        seen.append(message)
    if fuzz is not None:
        answers = [m for m in seen if m.get("id") == fuzz]
        assert len(answers) == 1, (line, seen)
    assert stdio_server.proc.poll() is None


def _as_request(line: bytes) -> int | str | None:
    """The id of a line that is unmistakably a JSON-RPC request (so it must get one answer)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str):
        return None
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        return None
    return request_id

"""stdio: stdout carries only JSON-RPC, both eras work, and the process stops cleanly."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator

import pytest
from mcp import Client, StdioServerParameters

from tests.support.stdio import EXAMPLE, StdioProcess, request
from warden_core.testing.clients import MODES

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[StdioProcess]:
    process = StdioProcess([str(EXAMPLE)], env={"WARDEN_EXAMPLE_LOG_LEVEL": "DEBUG"})
    yield process
    process.kill()


def test_stdout_carries_only_json_rpc_even_when_tools_log_and_print(server: StdioProcess) -> None:
    server.send(request(1, "tools/list"))
    server.send(request(2, "tools/call", {"name": "ex_noisy", "arguments": {"text": "hello"}}))
    server.send(request(3, "tools/call", {"name": "ex_fail", "arguments": {"message": "oops"}}))
    answers = server.answers({1, 2, 3})
    assert answers[2]["result"]["structuredContent"] == {"text": "hello", "length": 5}
    assert answers[3]["result"]["isError"] is True
    server.close_stdin()
    assert server.wait() == 0
    for line in server.lines:
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0", line
    stderr = server.stderr.decode()
    assert "noisy tool says hello" in stderr  # logs went to stderr
    assert "printed by a tool: hello" in stderr  # and so did print()


def test_discovery_without_credentials_then_a_clear_error(server: StdioProcess) -> None:
    server.send(request(1, "tools/list"))
    server.send(request(2, "tools/call", {"name": "ex_list_items", "arguments": {}}))
    answers = server.answers({1, 2})
    assert len(answers[1]["result"]["tools"]) == 5
    error = answers[2]["result"]
    assert error["isError"] is True
    assert "set WARDEN_EXAMPLE_TOKEN" in error["content"][0]["text"]


def test_sigterm_drains_in_flight_calls_and_exits_zero(server: StdioProcess) -> None:
    for i in range(1, 6):
        call = request(i, "tools/call", {"name": "ex_slow", "arguments": {"seconds": 0.8}})
        call["params"]["_meta"]["progressToken"] = f"p{i}"
        server.send(call)
    started: set[str] = set()
    while len(started) < 5:  # each call reports progress as soon as it runs: all five are in flight
        message = server.receive()
        if message.get("method") == "notifications/progress":
            started.add(message["params"]["progressToken"])
    server.proc.send_signal(signal.SIGTERM)
    late = request(6, "tools/call", {"name": "ex_echo", "arguments": {"text": "after the signal"}})
    server.send(late)
    stopped = time.monotonic()
    answers = server.answers(set(range(1, 7)))
    assert all(answers[i]["result"]["structuredContent"] == {"ok": True} for i in range(1, 6))
    refused = answers[6]["result"]
    assert refused["isError"] and "shutting down" in refused["content"][0]["text"]
    assert server.wait(10) == 0
    assert time.monotonic() - stopped < 10


def test_bad_configuration_fails_with_one_line() -> None:
    process = StdioProcess([str(EXAMPLE)], env={"WARDEN_EXAMPLE_RATE_LIMIT": "lots"})
    assert process.wait(30) == 2
    lines = process.stderr.decode().strip().splitlines()
    assert lines[-1].startswith("warden-example: invalid")
    assert process.lines == []


@pytest.mark.parametrize("era", list(MODES))
async def test_sdk_client_over_stdio(era: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(EXAMPLE)], env={"WARDEN_EXAMPLE_TOKEN": "tok-stdio-1"}
    )
    async with Client(params, mode=MODES[era]) as client:
        tools = await client.list_tools()
        result = await client.call_tool("ex_list_items", {"shelf": "main"})
    assert [t.name for t in tools.tools][:2] == ["ex_echo", "ex_list_items"]
    assert result.structured_content is not None and len(result.structured_content["items"]) == 50

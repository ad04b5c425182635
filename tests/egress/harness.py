"""Drive a server the three ways a client can (in memory, stdio, real HTTP) and keep everything it said."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from tests.support.live_http import serve_http
from tests.support.stdio import StdioProcess, request
from warden_core import WardenServer
from warden_core.testing import call

Calls = list[tuple[str, dict[str, Any]]]
API_KEY = "egress-test-client-key-0123456789"


@dataclass
class Answers:
    """What came back: every result as the client received it."""

    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def wire(self) -> str:
        return json.dumps(self.results)

    def check(self, calls: Calls) -> None:
        """Every call answered without a tool error (a refusal would prove nothing about masking)."""
        assert len(self.results) == len(calls)
        for (tool, arguments), result in zip(calls, self.results, strict=True):
            assert not result.get("isError"), (tool, arguments, result)


async def in_memory(server: WardenServer, calls: Calls, era: str) -> Answers:
    answers = Answers()
    for tool, arguments in calls:
        result: CallToolResult = await call(server, tool, arguments, era)
        answers.results.append(result.model_dump(mode="json", by_alias=True))
    return answers


async def over_http(server: WardenServer, calls: Calls) -> Answers:
    """The server behind uvicorn on 127.0.0.1, called with an API key (the server must accept `ci:API_KEY`)."""
    answers = Answers()
    with serve_http(server) as base:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {API_KEY}"}) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            for tool, arguments in calls:
                result = await client.call_tool(tool, arguments)
                answers.results.append(result.model_dump(mode="json", by_alias=True))
    return answers


def over_stdio(module: str, env: dict[str, str], calls: Calls) -> tuple[Answers, str]:
    """`python -m module` over stdio (requests of the 2026-07-28 era); the answers, and everything on stderr."""
    process = StdioProcess(["-m", module], env=env)
    try:
        for number, (tool, arguments) in enumerate(calls, 1):
            process.send(request(number, "tools/call", {"name": tool, "arguments": arguments}))
        found = process.answers(set(range(1, len(calls) + 1)), timeout=90)
        process.close_stdin()
        assert process.wait(60) == 0
    finally:
        process.kill()
    stdout = b"".join(process.lines).decode()
    assert all(line.startswith("{") for line in stdout.splitlines()), "stdout carries JSON-RPC only"
    answers = Answers([found[number]["result"] for number in range(1, len(calls) + 1)])
    return answers, process.stderr.decode() + stdout

"""Requests the server cannot take, answered cleanly.

A request naming a tool, prompt, resource or completion reference the server lacks (or a prompt without
its required arguments) gets one JSON-RPC error (-32602, naming it) on every transport and in both eras,
is audited as a refusal with the same outcome everywhere, and leaves no traceback in the log. Bad
arguments to a real tool read as one sentence, without the caller's values and without pydantic's layout.

Every server here writes its audit events to a file, so the three transports are read the same way.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import PromptReference, ResourceTemplateReference

from tests.core.example_server import ExampleSettings, build_server
from tests.interop.clients import clean_env
from tests.support.live_http import serve_http
from tests.support.stdio import EXAMPLE, ROOT
from warden_core.resilience import connection_failure
from warden_core.testing import connect, connect_http

pytestmark = pytest.mark.anyio

Call = Callable[[Client], Awaitable[Any]]

UNKNOWN: dict[str, tuple[Call, str, str]] = {
    "tool": (lambda c: c.call_tool("ex_nope", {}), "unknown_tool", "Unknown tool: ex_nope"),
    # Registered only when writes are on: hidden by the policy, so unknown as well.
    "hidden tool": (lambda c: c.call_tool("ex_add_item", {}), "unknown_tool", "Unknown tool: ex_add_item"),
    "prompt": (lambda c: c.get_prompt("ex_nope"), "unknown_prompt", "Unknown prompt: ex_nope"),
    # A real prompt without its required argument: the SDK would raise inside the handler.
    "prompt without its argument": (
        lambda c: c.get_prompt("ex_tidy_shelf", {}),
        "invalid_arguments",
        "Prompt ex_tidy_shelf needs the argument(s): shelf",
    ),
    "resource": (
        lambda c: c.read_resource("example://nowhere/main"),
        "unknown_resource",
        "Unknown resource: example://nowhere/main",
    ),
    "completion of a prompt": (
        lambda c: c.complete(PromptReference(type="ref/prompt", name="ex_nope"), {"name": "shelf", "value": ""}),
        "unknown_prompt",
        "Unknown prompt: ex_nope",
    ),
    "completion of a resource template": (
        lambda c: c.complete(
            ResourceTemplateReference(type="ref/resource", uri="example://nowhere/{shelf}"),
            {
                "name": "shelf",
                "value": "",
            },
        ),
        "unknown_resource",
        "Unknown resource template: example://nowhere/{shelf}",
    ),
}


@asynccontextmanager
async def client_for(transport: str, era: str, audit: Path, errlog: Any) -> AsyncIterator[Client]:
    settings = {"audit_sink": str(audit)}
    if transport == "memory":
        async with connect(build_server(ExampleSettings.load(**settings)), era) as client:
            yield client
    elif transport == "http":
        with serve_http(build_server(ExampleSettings.load(**settings))) as base:
            async with connect_http(base, era) as client:
                yield client
    else:
        env = clean_env() | {"WARDEN_EXAMPLE_AUDIT_SINK": str(audit)}
        params = StdioServerParameters(command=sys.executable, args=[str(EXAMPLE)], env=env, cwd=str(ROOT))
        async with Client(stdio_client(params, errlog=errlog), mode="legacy" if era == "legacy" else "auto") as client:
            yield client


@pytest.mark.parametrize("transport", ["memory", "stdio", "http"])
async def test_unknown_names_get_a_clean_error_audited_alike(
    transport: str, era: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audit = tmp_path / "audit.jsonl"
    with tempfile.TemporaryFile("w+") as errlog, caplog.at_level(logging.DEBUG):
        async with client_for(transport, era, audit, errlog) as client:
            for what, (call, _, message) in UNKNOWN.items():
                with anyio.fail_after(10), pytest.raises(MCPError) as raised:
                    await call(client)
                assert (raised.value.error.code, raised.value.error.message) == (-32602, message), what
        errlog.seek(0)
        stderr = errlog.read()
    logged = stderr + "\n".join(record.getMessage() for record in caplog.records)
    assert "Traceback" not in logged and not any(record.exc_info for record in caplog.records), logged[-2000:]

    events = [json.loads(line) for line in audit.read_text().splitlines()]
    refused = [(e["decision"], e["outcome"], e.get("reason")) for e in events if e["method"] in _NAMED]
    assert refused == [("deny", outcome, message) for _, outcome, message in UNKNOWN.values()]


_NAMED = {"tools/call", "prompts/get", "resources/read", "completion/complete"}


async def test_known_names_still_answer(era: str) -> None:
    async with connect(build_server(ExampleSettings.load(shelves=("main", "books"))), era) as client:
        prompt = await client.get_prompt("ex_tidy_shelf", {"shelf": "books"})
        by_prompt = await client.complete(
            PromptReference(type="ref/prompt", name="ex_tidy_shelf"), {"name": "shelf", "value": "b"}
        )
        by_template = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="example://shelves/{shelf}"),
            {"name": "shelf", "value": "m"},
        )
        tool = await client.call_tool("ex_echo", {"text": "hi"})
    assert "'books'" in str(prompt.messages[0].content)
    assert by_prompt.completion.values == ["books"]
    assert by_template.completion.values == ["main"]
    assert not tool.is_error


async def test_bad_arguments_read_as_one_sentence_without_values_or_links() -> None:
    async with connect(build_server(ExampleSettings.load())) as client:
        missing = await client.call_tool("ex_echo", {})
        extra = await client.call_tool("ex_echo", {"text": "a", "colour": "secret-ish value"})
        wrong = await client.call_tool("ex_echo", {"text": 12345})
    assert [block.text for result in (missing, extra, wrong) for block in result.content] == [
        "Error executing tool ex_echo: invalid arguments: `text` is required",
        "Error executing tool ex_echo: invalid arguments: `colour` is not an argument of this tool",
        "Error executing tool ex_echo: invalid arguments: `text`: input should be a valid string",
    ]


def test_the_cause_of_a_network_failure_is_found_however_deeply_it_is_wrapped() -> None:
    import socket
    import urllib.error

    def wrapped(inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except OSError as exc:
                raise ConnectionError("connection failed") from exc
        except ConnectionError as outer:
            return RuntimeError(outer)

    found = connection_failure
    assert found(wrapped(socket.gaierror(-2, "Name or service not known"))) == "the host name does not resolve"
    assert (found(urllib.error.URLError(ConnectionRefusedError(111, "refused"))) or "").startswith(
        "the connection was refused"
    )
    assert found(wrapped(TimeoutError())) == "the connection timed out"
    assert found(RuntimeError("no cause at all")) is None

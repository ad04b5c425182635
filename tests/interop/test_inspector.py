"""The MCP Inspector CLI (a client this project did not write) lists and calls the example server's tools.

Every combination of transport (stdio subprocess, streamable HTTP subprocess on loopback) and
protocol era (`legacy`: the initialize handshake at 2025-11-25; `modern`: stateless 2026-07-28).
Exit codes are the Inspector's: 0 ok, 3 auth required, 5 tool error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.clients import Completed, NpmClients, clean_env
from tests.interop.servers import EXAMPLE_SERVER, HttpServer

pytestmark = pytest.mark.interop

ERA_VERSIONS = {"legacy": "2025-11-25", "modern": "2026-07-28"}
# The example server's default configuration: read-only, so the write tools are not registered.
DEFAULT_TOOLS = ["ex_echo", "ex_list_items", "ex_slow", "ex_noisy", "ex_fail"]

EXIT_OK, EXIT_AUTH_REQUIRED, EXIT_TOOL_ERROR = 0, 3, 5


@pytest.fixture(params=sorted(ERA_VERSIONS))
def era(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["stdio", "http"])
def target(request: pytest.FixtureRequest) -> list[str]:
    """The Inspector's target arguments: a command to spawn, or the URL of the running HTTP server."""
    if request.param == "stdio":
        return [sys.executable, str(EXAMPLE_SERVER)]
    server: HttpServer = request.getfixturevalue("example_http")
    # --stored-auth-only: never start an interactive OAuth flow (it would listen on a fixed port).
    return [server.url, "--transport", "http", "--stored-auth-only"]


def test_initialize_negotiates_the_era(npm_clients: NpmClients, client_home: Path, target: list[str], era: str) -> None:
    run = npm_clients.inspector_cli(
        "--protocol-era", era, *target, "--method", "initialize", "--format", "json", home=client_home
    )
    assert run.returncode == EXIT_OK, run.describe()
    result = run.json()["result"]
    assert result["protocolVersion"] == ERA_VERSIONS[era], run.describe()
    assert result["serverInfo"] == {"name": "warden-example", "version": "0.1.0"}
    assert "tools" in result["capabilities"]


def test_tools_list(npm_clients: NpmClients, client_home: Path, target: list[str], era: str) -> None:
    # --strict: exit 6 if any tool schema has an error-severity portability problem.
    run = npm_clients.inspector_cli(
        "--protocol-era", era, *target, "--method", "tools/list", "--strict", "--format", "json", home=client_home
    )
    assert run.returncode == EXIT_OK, run.describe()
    tools = {tool["name"]: tool for tool in run.json()["result"]["tools"]}
    assert list(tools) == DEFAULT_TOOLS, run.describe()
    echo = tools["ex_echo"]
    assert echo["title"] == "Echo"
    assert echo["inputSchema"]["type"] == "object"
    assert echo["inputSchema"]["additionalProperties"] is False
    assert echo["inputSchema"]["required"] == ["text"]
    assert set(echo["outputSchema"]["properties"]) == {"text", "length"}
    assert echo["annotations"] == {  # the title is the tool's own; annotations do not repeat it
        "readOnlyHint": True,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": False,
    }


def test_tools_call_returns_structured_content(
    npm_clients: NpmClients, client_home: Path, target: list[str], era: str
) -> None:
    text = f"hello from the inspector, {era} era"
    run = npm_clients.inspector_cli(
        "--protocol-era",
        era,
        *target,
        "--method",
        "tools/call",
        "--tool-name",
        "ex_echo",
        "--tool-args-json",
        json.dumps({"text": text}),
        "--format",
        "json",
        home=client_home,
    )
    assert run.returncode == EXIT_OK, run.describe()
    result = run.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"] == {"text": text, "length": len(text)}
    # The same value as JSON text, for clients that ignore structuredContent.
    assert [json.loads(block["text"]) for block in result["content"] if block["type"] == "text"] == [
        result["structuredContent"]
    ]


def test_tool_error_exits_5_without_leaking_internals(
    npm_clients: NpmClients, client_home: Path, target: list[str], era: str
) -> None:
    run = npm_clients.inspector_cli(
        "--protocol-era",
        era,
        *target,
        "--method",
        "tools/call",
        "--tool-name",
        "ex_fail",
        "--tool-arg",
        "message=kaboom",
        "--format",
        "json",
        home=client_home,
    )
    assert run.returncode == EXIT_TOOL_ERROR, run.describe()
    result = run.json()["result"]
    assert result["isError"] is True
    assert result["content"] == [{"type": "text", "text": "Error executing tool ex_fail"}]
    assert "tool_is_error" in [error["code"] for error in run.error_envelopes()], run.describe()


# --- Authentication over HTTP. -----------------------------------------------------------------------


def _list_with(npm_clients: NpmClients, home: Path, server: HttpServer, era: str, *extra: str) -> Completed:
    return npm_clients.inspector_cli(
        server.url,
        "--transport",
        "http",
        "--stored-auth-only",
        "--protocol-era",
        era,
        *extra,
        "--method",
        "tools/list",
        "--format",
        "json",
        home=home,
    )


@pytest.mark.parametrize("header", [None, "Authorization: Bearer wrong-key-0123456789abcdef"], ids=["none", "wrong"])
def test_http_without_a_valid_key_is_auth_required(
    npm_clients: NpmClients,
    client_home: Path,
    example_http_with_key: HttpServer,
    era: str,
    header: str | None,
) -> None:
    extra = ("--header", header) if header else ()
    run = _list_with(npm_clients, client_home, example_http_with_key, era, *extra)
    assert run.returncode == EXIT_AUTH_REQUIRED, run.describe()
    assert "auth_required" in [error["code"] for error in run.error_envelopes()], run.describe()
    assert '"tools"' not in run.stdout


def test_http_with_the_key_lists_and_calls(
    npm_clients: NpmClients, client_home: Path, example_http_with_key: HttpServer, api_key: str, era: str
) -> None:
    header = f"Authorization: Bearer {api_key}"
    start = example_http_with_key.log_size()
    listed = _list_with(npm_clients, client_home, example_http_with_key, era, "--header", header)
    assert listed.returncode == EXIT_OK, listed.describe()
    assert [tool["name"] for tool in listed.json()["result"]["tools"]] == DEFAULT_TOOLS

    called = npm_clients.inspector_cli(
        example_http_with_key.url,
        "--transport",
        "http",
        "--stored-auth-only",
        "--protocol-era",
        era,
        "--header",
        header,
        "--method",
        "tools/call",
        "--tool-name",
        "ex_echo",
        "--tool-arg",
        "text=authenticated",
        "--format",
        "json",
        home=client_home,
    )
    assert called.returncode == EXIT_OK, called.describe()
    assert called.json()["result"]["structuredContent"] == {"text": "authenticated", "length": 13}

    # The server knew which key called, and never wrote the key itself.
    assert api_key not in example_http_with_key.log_text(start)
    calls = [e for e in example_http_with_key.audit_events(start) if e["method"] == "tools/call"]
    assert [(e["client_id"], e.get("tool"), e["outcome"]) for e in calls] == [("ci", "ex_echo", "ok")]


def test_http_audit_names_the_api_key_principal(
    npm_clients: NpmClients, client_home: Path, example_http_with_key: HttpServer, api_key: str
) -> None:
    start = example_http_with_key.log_size()
    run = _list_with(
        npm_clients, client_home, example_http_with_key, "modern", "--header", f"Authorization: Bearer {api_key}"
    )
    assert run.returncode == EXIT_OK, run.describe()
    listed = [e for e in example_http_with_key.audit_events(start) if e["method"] == "tools/list"]
    assert listed
    assert {e["principal"] for e in listed} == {"apikey/ci"}


# --- Every Warden server's tool schemas, through the Inspector's strict portability check. ------------

# Settings that expose every tool a server has (writes and optional groups included), so every schema is checked.
EVERY_TOOL = {
    "postgres": {"GROUPS": "catalog,query,dba"},
    "github": {
        "READ_ONLY": "false",
        "REPOS": "acme/api",
        "WRITE_REPOS": "acme/api",
        "GROUPS": "repos,git,issues,pull_requests,runs,actions,security,context",
    },
    "kubernetes": {
        "READ_ONLY": "false",
        "ALLOW_DESTRUCTIVE": "true",
        "WRITE_NAMESPACES": "shop",
        "GROUPS": "resources,workloads,cluster,usage,helm,access",
    },
    "slack": {
        "READ_ONLY": "false",
        "CHANNELS": "C024BE91L",
        "WRITE_CHANNELS": "C024BE91L",
        "GROUPS": "channels,files,messages,search,users",
    },
    "aws": {"GROUPS": "identity,api,api_docs,inventory,monitoring,audit,security,cost"},
}


@pytest.mark.parametrize("name", sorted(EVERY_TOOL))
def test_every_tool_schema_passes_the_strict_portability_check(
    npm_clients: NpmClients, client_home: Path, name: str
) -> None:
    settings = {f"WARDEN_{name.upper()}_{key}": value for key, value in EVERY_TOOL[name].items()}
    command = [sys.executable, "-m", f"warden_{name}"]
    every = subprocess.run([*command, "tools"], capture_output=True, text=True, check=True, env=clean_env() | settings)
    assert all(tool["exposed"] for tool in json.loads(every.stdout)), "every tool is listed, so every schema is checked"

    env = [arg for item in settings.items() for arg in ("-e", "=".join(item))]
    run = npm_clients.inspector_cli(
        *env, *command, "--method", "tools/list", "--strict", "--format", "json", home=client_home
    )
    assert run.returncode == EXIT_OK, run.describe()
    assert len(run.json()["result"]["tools"]) == len(json.loads(every.stdout))
    findings = [line for line in run.stderr.splitlines() if line.startswith(("Warning:", "Error:"))]
    assert findings == [], run.describe()

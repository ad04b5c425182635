"""The one command-line shape: claude-config prints a working entry, tools documents the surface."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from mcp import Client, StdioServerParameters

from tests.core.example_server import APP, ExampleSettings
from tests.support.stdio import EXAMPLE, ROOT
from warden_core.cli import _leave_abandoned_threads, claude_config, run

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """`run` configures process-wide logging, as the real CLI does; give pytest its handlers back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_claude_config_entry_has_absolute_command_and_effective_settings() -> None:
    settings = ExampleSettings.load(shelves=("main", "books"), token="secret-token-for-config")
    entry = claude_config(APP, settings, with_secrets=False)["mcpServers"]["warden-example"]
    assert entry["command"] == sys.executable
    assert entry["env"]["WARDEN_EXAMPLE_SHELVES"] == "main,books"
    assert entry["env"]["WARDEN_EXAMPLE_TOKEN"] == "<set this secret here>"
    with_secrets = claude_config(APP, settings, with_secrets=True)["mcpServers"]["warden-example"]
    assert with_secrets["env"]["WARDEN_EXAMPLE_TOKEN"] == "secret-token-for-config"


async def test_printed_claude_config_launches_the_server() -> None:
    printed = subprocess.run(
        [sys.executable, str(EXAMPLE), "claude-config"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "WARDEN_EXAMPLE_SHELVES": "main"},
    )
    entry = json.loads(printed.stdout)["mcpServers"]["warden-example"]
    # The example server is a script, not an installed package: run the same interpreter on it.
    params = StdioServerParameters(command=entry["command"], args=[str(EXAMPLE)], env=entry["env"], cwd=str(ROOT))
    async with Client(params) as client:
        tools = await client.list_tools()
    assert "ex_echo" in [tool.name for tool in tools.tools]


def test_tools_command_documents_every_tool_without_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(APP, ["tools"]) == 0
    tools = {tool["name"]: tool for tool in json.loads(capsys.readouterr().out)}
    assert tools["ex_echo"]["exposed"] is True
    assert tools["ex_add_item"] == tools["ex_add_item"] | {
        "exposed": False,
        "hidden_because": "server is read-only",
        "access": "write",
        "scope": "store:write",
    }


def test_hash_key_prints_the_digest_form(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("a-key-of-sufficient-length\n"))
    assert run(APP, ["hash-key"]) == 0
    digest = capsys.readouterr().out.strip()
    assert digest.startswith("sha256:") and len(digest) == 71
    ExampleSettings.load(api_keys=(f"ops:{digest}",))  # accepted as a setting


def test_threads_that_end_within_the_grace_are_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    """An idle worker told to stop as the event loop ended is still alive for a moment: not blocked."""
    finishing = threading.Thread(target=time.sleep, args=(0.2,))
    finishing.start()
    _leave_abandoned_threads(0)  # returns (a blocked thread would make it exit the process)
    assert not finishing.is_alive()
    assert "still blocked" not in caplog.text


def test_version_names_the_server_the_core_and_the_sdk(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(APP, ["--version"])
    assert exited.value.code == 0
    assert re.fullmatch(
        r"warden-example 0\.1\.0 \(core \d+\.\d+\.\d+, mcp \d+\.\d+\.\d+\S*, Python 3\.\d+\.\d+\)\n",
        capsys.readouterr().out,
    )


def test_help_lists_the_commands_and_every_setting_with_its_default_and_meaning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        run(APP, ["--help"])
    text = " ".join(capsys.readouterr().out.split())  # unwrapped
    for command in ("serve", "tools", "claude-config", "hash-key"):
        assert f" {command} " in text
    for name in ExampleSettings.model_fields:
        assert ExampleSettings.env_name(name) in text, name
    assert "WARDEN_EXAMPLE_TOKEN (required, secret, default: unset) Pretend backend credential." in text
    assert "WARDEN_EXAMPLE_SHELVES (default: main) Shelves the server may read." in text
    assert "WARDEN_EXAMPLE_RATE_LIMIT (default: 120/minute) Calls per principal per tool" in text
    assert "WARDEN_EXAMPLE_PORT (default: 8199)" in text


def test_a_misspelled_setting_is_named_with_the_closest_real_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_EXAMPLE_SHELF", "books")
    monkeypatch.setenv("WARDEN_EXAMPLE_ZZZ", "1")
    monkeypatch.setenv("WARDEN_EXAMPLE_SHELVES", "main")  # a real one: no word about it
    assert run(APP, ["tools"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [
        "warden-example: warning: WARDEN_EXAMPLE_SHELF is not a setting and is ignored "
        "(did you mean WARDEN_EXAMPLE_SHELVES?)",
        "warden-example: warning: WARDEN_EXAMPLE_ZZZ is not a setting and is ignored (see warden-example --help)",
    ]


def test_claude_config_shows_unset_required_settings_as_placeholders_and_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("WARDEN_EXAMPLE_")]:
        monkeypatch.delenv(name)
    assert run(APP, ["claude-config"]) == 0
    printed = capsys.readouterr()
    entry = json.loads(printed.out)["mcpServers"]["warden-example"]
    assert entry["env"] == {"WARDEN_EXAMPLE_TOKEN": "<required: Pretend backend credential.>"}
    assert "warden-example: required, not set: WARDEN_EXAMPLE_TOKEN (placeholders above)" in printed.err

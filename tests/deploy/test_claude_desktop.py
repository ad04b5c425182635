"""Claude Desktop in one step: the entry `warden-<name> claude-config` prints launches that server.

For every server registered under the `warden.servers` entry-point group: print the entry with the
installed console script, from a bare environment plus one setting, then do what Claude Desktop does
with it (run `command` with `args` and `env`, from another directory) and list the tools over stdio.
The setting excludes one tool, so the listing also proves that the printed `env` reaches the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.deploy.support import registered

pytestmark = pytest.mark.anyio

BARE = {"PATH": "/usr/bin:/bin"}


def cli(name: str, *args: str, env: dict[str, str]) -> str:
    script = Path(sys.executable).parent / f"warden-{name}"  # the console script the package installs
    done = subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", sorted(registered()))
async def test_printed_entry_launches_the_server_and_lists_its_tools(name: str, tmp_path: Path) -> None:
    exposed = [tool["name"] for tool in json.loads(cli(name, "tools", env=BARE)) if tool["exposed"]]
    assert exposed, "every server lists tools without any credential"
    excluded = exposed[0]
    setting = f"WARDEN_{name.upper()}_EXCLUDE_TOOLS"

    config = json.loads(cli(name, "claude-config", env=BARE | {setting: excluded}))
    (key,) = config["mcpServers"]
    entry = config["mcpServers"][key]
    assert key == f"warden-{name}"
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).exists()
    # Required settings left unset appear as placeholders to fill in; the user would put real values there.
    required = {key: value for key, value in entry["env"].items() if value.startswith("<required: ")}
    assert set(required) == {
        registered()[name].settings.env_name(field) for field in registered()[name].settings.required
    }
    assert entry["env"] == {setting: excluded} | required

    env = {key: value for key, value in entry["env"].items() if key not in required}
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=env, cwd=str(tmp_path))
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            listed = [tool.name for tool in (await client.list_tools()).tools]
    assert sorted(listed) == sorted(set(exposed) - {excluded})

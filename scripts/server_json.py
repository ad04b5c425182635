"""Write servers/<name>/server.json, each server's entry for the MCP registry, from what the server declares.

    uv run python scripts/server_json.py          write them
    uv run python scripts/server_json.py --check  exit 1 if any is missing or differs (make lint runs this)

The name, version, description and repository come from the server's pyproject.toml; the environment
variables from its settings model (its own settings: which are required, which are secret, their
defaults and meanings), so the entry cannot drift from the server. The registry's schema release is
pinned here and in tests/deploy/registry/, which validates the files against it.
"""

from __future__ import annotations

import json
import sys
import tomllib
from importlib import import_module
from pathlib import Path
from typing import Any

from warden_core.settings import CoreSettings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
NAMESPACE = "io.github.lpwarden"
SERVERS = ("postgres", "github", "kubernetes", "slack", "aws")
TITLES = {"postgres": "PostgreSQL", "github": "GitHub", "kubernetes": "Kubernetes", "slack": "Slack", "aws": "AWS"}


def registry_name(name: str) -> str:
    """The server's name in the registry; its README carries it as `mcp-name: ...` (PyPI ownership)."""
    return f"{NAMESPACE}/warden-{name}"


def _format(annotation: Any) -> str:
    text = str(annotation)
    if annotation is bool or text.startswith("bool"):
        return "boolean"
    if annotation in (int, float) or text.startswith(("int", "float")):
        return "number"
    return "string"


def render(name: str) -> str:
    project = tomllib.loads((ROOT / "servers" / name / "pyproject.toml").read_text())["project"]
    settings = import_module(f"warden_{name}.settings").Settings
    variables = []
    for doc in settings.settings():
        if doc.field in CoreSettings.model_fields:
            continue  # the settings every server shares are documented once, in the README
        annotation = settings.model_fields[doc.field].annotation
        variable: dict[str, Any] = {"name": doc.env, "description": doc.description, "format": _format(annotation)}
        if doc.required:
            variable["isRequired"] = True
        if doc.secret:
            variable["isSecret"] = True
        if doc.default:
            variable["default"] = doc.default
        variables.append(variable)
    entry = {
        "$schema": SCHEMA,
        "name": registry_name(name),
        "title": f"Warden {TITLES[name]}",
        "description": project["description"],
        "version": project["version"],
        "repository": {"url": project["urls"]["Repository"], "source": "github", "subfolder": f"servers/{name}"},
        "websiteUrl": project["urls"]["Documentation"],
        "packages": [
            {
                "registryType": "pypi",
                "registryBaseUrl": "https://pypi.org",
                "identifier": project["name"],
                "version": project["version"],
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "environmentVariables": variables,
            }
        ],
    }
    return json.dumps(entry, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in SERVERS:
        path = ROOT / "servers" / name / "server.json"
        wanted = render(name)
        if path.exists() and path.read_text() == wanted:
            continue
        if check:
            stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(wanted)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date with the servers' settings and pyproject.toml: {', '.join(stale)} (run `make server-json`)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Each server's server.json, its entry for the MCP registry: valid against the registry's published
schema (tests/deploy/registry/), current with the server, and consistent with what PyPI will show."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from typing import Any

import jsonschema
import pytest

from tests.deploy.support import ROOT, SERVERS, load, registered

server_json = load(ROOT / "scripts" / "server_json.py")
REGISTRY = ROOT / "tests" / "deploy" / "registry"


def entry(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "servers" / name / "server.json").read_text()))


def test_the_schema_is_the_registry_s_release_unchanged() -> None:
    digest = hashlib.sha256((REGISTRY / "server.schema.json").read_bytes()).hexdigest()
    assert digest in (REGISTRY / "README.md").read_text()
    assert json.loads((REGISTRY / "server.schema.json").read_text())["$id"] == server_json.SCHEMA
    assert "MIT License" in (REGISTRY / "LICENSE").read_text()


@pytest.mark.parametrize("name", SERVERS)
def test_server_json_is_valid_against_the_registry_schema(name: str) -> None:
    schema = json.loads((REGISTRY / "server.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(entry(name))]
    assert errors == []


@pytest.mark.parametrize("name", SERVERS)
def test_server_json_is_current(name: str) -> None:
    assert (ROOT / "servers" / name / "server.json").read_text() == server_json.render(name), "run `make server-json`"


@pytest.mark.parametrize("name", SERVERS)
def test_server_json_agrees_with_the_package_and_the_server(name: str) -> None:
    project = tomllib.loads((ROOT / "servers" / name / "pyproject.toml").read_text())["project"]
    data = entry(name)
    (package,) = data["packages"]
    assert (package["identifier"], package["version"], data["version"]) == (project["name"], *[project["version"]] * 2)
    # The registry proves the PyPI package is ours by finding this line in its description (the README).
    readme = (ROOT / "servers" / name / project["readme"]).read_text()
    assert re.search(rf"mcp-name: {re.escape(data['name'])}\b", readme)
    # `uvx <identifier>` runs the script of the package's own name.
    assert project["scripts"][package["identifier"]] == project["scripts"][f"warden-{name}"]
    settings = registered()[name].settings
    variables = {v["name"]: v for v in package["environmentVariables"]}
    assert {settings.env_name(field) for field in settings.required} <= {
        n for n, v in variables.items() if v.get("isRequired")
    }
    assert all(n.removeprefix(settings.env_name("")).lower() in settings.model_fields for n in variables)

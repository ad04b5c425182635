"""The six distributions, as PyPI and an installer see them.

Every `warden-*` name on PyPI belongs to another project (`warden-core` among them), so an
unpinned or misnamed dependency would install someone else's code: the names carry the project's
own prefix, and each server requires exactly the core it was released with.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from typing import Any

import pytest

from tests.deploy.support import ROOT, SERVERS

PREFIX = "lpwarden-"
PROJECTS = {"core": ROOT / "shared", **{name: ROOT / "servers" / name for name in SERVERS}}


def project(name: str) -> dict[str, Any]:
    return dict(tomllib.loads((PROJECTS[name] / "pyproject.toml").read_text())["project"])


def test_every_distribution_has_the_project_prefix_and_one_version() -> None:
    assert {name: project(name)["name"] for name in PROJECTS} == {name: PREFIX + name for name in PROJECTS}
    assert {project(name)["version"] for name in PROJECTS} == {project("core")["version"]}


@pytest.mark.parametrize("name", SERVERS)
def test_a_server_requires_exactly_its_core_and_no_other_warden_distribution(name: str) -> None:
    requirements = project(name)["dependencies"]
    warden = [req for req in requirements if "warden" in req]
    # Exactly the core it was tested with; `[tracing]` brings the OpenTelemetry SDK, for when OTEL_* asks for traces.
    assert warden == [f"{PREFIX}core[tracing]=={project('core')['version']}"]
    main = f"warden_{name}.__main__:main"
    assert project(name)["scripts"] == {f"warden-{name}": main, f"{PREFIX}{name}": main}  # the second for `uvx`


@pytest.mark.parametrize("name", list(PROJECTS))
def test_the_import_package_knows_its_version(name: str) -> None:
    assert importlib.import_module(f"warden_{name}").__version__ == project(name)["version"]


@pytest.mark.parametrize("name", list(PROJECTS))
def test_metadata_for_pypi(name: str) -> None:
    meta = project(name)
    folder = PROJECTS[name]
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    assert (folder / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert (folder / meta["readme"]).is_file()
    assert any(c.startswith("Programming Language :: Python :: 3.11") for c in meta["classifiers"])
    assert set(meta["urls"]) >= {"Homepage", "Repository", "Issues", "Changelog"}
    assert (ROOT / "CHANGELOG.md").is_file()
    urls = {url for proj in PROJECTS for url in [project(proj)["urls"]["Repository"]]}
    assert len(urls) == 1, "one repository for all six"


def test_the_changelog_has_an_entry_for_the_version() -> None:
    version = project("core")["version"]
    assert re.search(rf"^## \[{re.escape(version)}\]", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)

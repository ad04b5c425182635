"""What the deployment tests share: the repository, the five servers, and the registered ones."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from importlib.metadata import entry_points, requires
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ("postgres", "github", "kubernetes", "slack", "aws")


def load(path: Path) -> ModuleType:
    """Import a script that is not part of a package (scripts/, deploy/docker/)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def ports() -> dict[str, int]:
    """Default HTTP ports, as scripts/dockerfiles.py writes them into the Dockerfiles."""
    return dict(load(ROOT / "scripts" / "dockerfiles.py").PORTS)


@cache
def registered() -> dict[str, Any]:
    """The servers installed in this environment (`warden.servers` entry points): name -> ServerApp."""
    return {ep.name: ep.load() for ep in entry_points(group="warden.servers")}


@cache
def distribution(name: str) -> str:
    """The distribution that installs server `name` (its entry point's), or for "core", the one the servers require."""
    dists = {ep.name: ep.dist.name for ep in entry_points(group="warden.servers") if ep.dist is not None}
    if name != "core":
        return dists[name]
    cores = {re.split(r"[=<>~!; \[]", req, maxsplit=1)[0] for req in requires(dists["postgres"]) or () if "core" in req}
    (core,) = cores
    return core

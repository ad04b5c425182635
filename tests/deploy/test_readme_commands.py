"""Every shell block of every README, run as a newcomer types it after the two set-up commands.

Each ```sh block is run by bash from the repository root (as the READMEs assume), in the environment a
newcomer's shell has: the system's PATH only (no `.venv/bin`, no uv), no `WARDEN_*` variable, a
throwaway HOME, stdin closed; the rest of the machine's environment (its CA bundle, say) stays. The
repository is this checkout, installed as `make test` leaves it; the environment is fresh. A block
passes when it exits 0; a block that starts a server that runs until stopped (`SERVES`) passes once
that server answers `/healthz` on its port, and is then stopped.

A block that needs something this machine lacks is listed in `NEEDS` with the reason; any other block
runs, so a README cannot gain a command nobody checks. The server READMEs begin with the install from
PyPI (`pipx install lpwarden-<name>`), which needs the package published (`make test-install` installs
every server's wheel that way); their later blocks run with the server's command on PATH, as that
install leaves it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.deploy.support import ROOT, SERVERS

READMES = [
    "README.md",
    "deploy/README.md",
    "tests/interop/README.md",
    "shared/README.md",
    *(f"servers/{name}/README.md" for name in SERVERS),
]

# (README, text in the block) -> why the block cannot run here.
ENGINE = "a container engine and minutes of image builds (CI runs make test-images)"
NEEDS = {
    ("README.md", "make test "): "the set-up commands: make test is the suite this test belongs to (CI runs both)",
    ("README.md", "uvx lpwarden-postgres"): "lpwarden-postgres published on PyPI (make test-install runs uvx and pipx)",
    ("README.md", "make images"): f"{ENGINE}; a compose daemon; a Kubernetes cluster",
    ("deploy/README.md", "make images"): ENGINE,
    ("deploy/README.md", "docker build"): "a Docker daemon (none runs on the project's machines)",
    ("deploy/README.md", "docker run"): "a Docker daemon and a built image",
    ("deploy/README.md", "podman run"): "a built image (CI's make test-images runs it the same way)",
    ("deploy/README.md", "docker compose up"): "a compose daemon, a postgres image and filled-in secrets",
    ("deploy/README.md", "kubectl"): "a Kubernetes cluster",
    ("tests/interop/README.md", "make test"): "part of the suite this test belongs to",
    ("servers/github/README.md", "make test"): "part of the suite this test belongs to",
    ("servers/kubernetes/README.md", "kubectl"): "a Kubernetes cluster and kubectl",
    ("servers/aws/README.md", "aws configure sso"): "the AWS CLI and an AWS account with SSO",
    **{(f"servers/{name}/README.md", "pipx install"): f"lpwarden-{name} published on PyPI" for name in SERVERS},
}

# (README, text in the block) -> the port of the server it starts.
SERVES = {
    ("README.md", "--transport http --host 0.0.0.0 --port 8101"): 8101,
    ("servers/postgres/README.md", "--transport http --strict-role"): 8101,
    ("servers/github/README.md", "--transport http"): 8102,
    ("servers/kubernetes/README.md", "--transport http"): 8103,
    ("servers/slack/README.md", "--transport http"): 8104,
    ("servers/aws/README.md", "--transport http"): 8105,
}

BLOCK = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.DOTALL | re.MULTILINE)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # a root shell's, on Debian


def blocks() -> list[tuple[str, int, str]]:
    found = []
    for readme in READMES:
        text = (ROOT / readme).read_text()
        for match in BLOCK.finditer(text):
            found.append((readme, text[: match.start()].count("\n") + 1, match.group(1)))
    return found


def marked(table: dict[tuple[str, str], object], readme: str, block: str) -> object | None:
    return next((value for (where, text), value in table.items() if where == readme and text in block), None)


# Set by the tools running this test, not by a newcomer's shell.
RUNNER = ("WARDEN_", "VIRTUAL_ENV", "UV_", "MAKE", "MFLAGS", "PYTEST", "PYTHON", "COV_")


def newcomer_env(home: Path, readme: str) -> dict[str, str]:
    """The machine's environment (its CA bundle settings, locale) less what this test's runners add."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(RUNNER)}
    path = SYSTEM_PATH
    if readme.startswith("servers/"):
        # What `pipx install lpwarden-<name>` leaves: the server's command on PATH.
        name = readme.split("/")[1]
        installed = home / ".local" / "bin"
        installed.mkdir(parents=True, exist_ok=True)
        (installed / f"warden-{name}").symlink_to(ROOT / ".venv" / "bin" / f"warden-{name}")
        path = f"{installed}:{path}"
    return env | {"PATH": path, "HOME": str(home)}


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.parametrize(("readme", "line", "block"), blocks(), ids=[f"{r}:{n}" for r, n, _ in blocks()])
def test_readme_block_works_as_typed(readme: str, line: int, block: str, tmp_path: Path) -> None:
    reason = marked(NEEDS, readme, block)
    if reason is not None:
        pytest.skip(f"needs {reason}")
    port = marked(SERVES, readme, block)
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=newcomer_env(tmp_path, readme),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # one process group: the block and the server it starts
    )
    try:
        if isinstance(port, int):
            deadline = time.monotonic() + 60
            while not healthy(port):
                assert process.poll() is None, (
                    f"{readme}:{line} exited {process.returncode}:\n{process.communicate()[0]}"
                )
                assert time.monotonic() < deadline, f"{readme}:{line}: nothing answered on port {port}"
                time.sleep(0.2)
            return
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, f"{readme}:{line} exited {process.returncode}:\n{block}\n---\n{output[-3000:]}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def test_every_marked_block_still_exists() -> None:
    """A mark whose block is gone would silently stop checking nothing; drop it with the block."""
    for table in (NEEDS, SERVES):
        for readme, text in table:
            assert any(r == readme and text in b for r, _, b in blocks()), (readme, text)

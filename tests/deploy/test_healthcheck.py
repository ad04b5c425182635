"""The images' HEALTHCHECK (deploy/docker/healthcheck.py) against a real server process.

It finds the server where the server itself listens: PID 1's flags first, then the environment,
then the default port. `make test-images` runs it inside every image as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.support import ROOT, load
from tests.support.processes import free_port, http_process
from tests.support.stdio import EXAMPLE

healthcheck = load(ROOT / "deploy" / "docker" / "healthcheck.py")
ENV = "WARDEN_EXAMPLE_"  # tests/core/example_server.py


def cmdline(tmp_path: Path, *args: str) -> Path:
    path = tmp_path / "cmdline"
    path.write_bytes(b"\0".join(arg.encode() for arg in ["/opt/warden/bin/python3", "/opt/warden/bin/warden-x", *args]))
    return path


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Port of the example server over HTTP on loopback."""
    port = free_port()
    with http_process([str(EXAMPLE)], {}, tmp_path_factory.mktemp("hc"), port=port):
        yield str(port)


def test_stdio_has_nothing_to_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(f"{ENV}TRANSPORT", raising=False)
    assert healthcheck.main("example", "1", cmdline(tmp_path)) == 0


def test_http_from_the_environment(running: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV}TRANSPORT", "http")
    monkeypatch.setenv(f"{ENV}HOST", "0.0.0.0")
    assert healthcheck.main("example", running, cmdline(tmp_path)) == 0  # the default port
    monkeypatch.setenv(f"{ENV}PORT", running)
    assert healthcheck.main("example", "1", cmdline(tmp_path)) == 0


def test_http_from_the_main_process_flags(running: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV}TRANSPORT", "stdio")
    monkeypatch.setenv(f"{ENV}PORT", "1")
    assert healthcheck.main("example", "1", cmdline(tmp_path, "--transport", "http", "--port", running)) == 0
    assert healthcheck.main("example", "1", cmdline(tmp_path, "--transport=http", f"--port={running}")) == 0


def test_unhealthy_when_nothing_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV}TRANSPORT", "http")
    assert healthcheck.main("example", str(free_port()), cmdline(tmp_path)) == 1

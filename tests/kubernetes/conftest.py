"""Fixtures for warden-kubernetes tests, reusable by other test directories.

- `kube`: a running, empty `FakeKube`; at teardown it asserts Warden never made a forbidden request
  (exec/attach/port-forward/proxy, or a verb other than GET/PATCH/DELETE).
- `cluster`: the same fake seeded with `seed.standard` (namespaces, nodes, workloads, canaries).
- `kubeconfig`: a kubeconfig file for the fake with contexts `dev` (current) and `prod`.
- `make_server(**settings)`: builds the production server against that kubeconfig.
- `log_capture`: every log record at DEBUG, formatted through the core's redacting handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes import seed
from tests.kubernetes.fake_kube import DEFAULT_TOKEN, FakeKube
from warden_core import WardenServer
from warden_core.redaction import RedactingFilter
from warden_kubernetes.server import build_server
from warden_kubernetes.settings import Settings

PROD_TOKEN = "prod-token-Hq81LmZx0Pw5Vb3Nc7Rt"


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    fake = FakeKube()
    with fake.serving():
        yield fake
    assert not fake.violations(), f"forbidden requests reached the API server: {fake.violations()}"


@pytest.fixture
def cluster(kube: FakeKube) -> FakeKube:
    seed.standard(kube)
    return kube


@pytest.fixture
def kubeconfig(kube: FakeKube, tmp_path: Path) -> Path:
    return kube.kubeconfig(tmp_path / "kubeconfig", contexts={"dev": DEFAULT_TOKEN, "prod": PROD_TOKEN})


@pytest.fixture
def make_server(kubeconfig: Path) -> Iterator[Callable[..., WardenServer]]:
    built: list[WardenServer] = []

    def make(**overrides: Any) -> WardenServer:
        values: dict[str, Any] = {
            "kubeconfig": str(kubeconfig),
            "namespaces": ("shop", "team-*", "default"),
            "audit_sink": "stderr",
            "backend_attempts": 2,
        }
        values.update(overrides)
        server = build_server(Settings.load(**values))
        built.append(server)
        return server

    yield make


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_capture() -> Iterator[_Collect]:
    """All log output at DEBUG, as the production handler renders it (redaction filter included)."""
    handler = _Collect()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)

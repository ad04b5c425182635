"""A private PostgreSQL cluster that a test may stop and start: never the machine's shared server.

It uses the binaries of PyPI's `pgserver` (a dev dependency, so CI has them too), a fresh data
directory, trust authentication, and a free TCP port on 127.0.0.1. As root, PostgreSQL runs as the
unprivileged `pgserver` user, exactly as `pgserver` itself does.

`machine_cluster` uses the machine's PostgreSQL binaries instead (SYSTEM_BIN, run as `postgres` when root),
which come with contrib and any extension packages installed, and can preload libraries
(`shared_preload_libraries`), which the machine's shared server must not be restarted for.

    with private_cluster(tmp_path) as cluster:
        cluster.dsn            # superuser DSN
        cluster.stop()         # fast shutdown: backends are terminated, clients see the connection drop
        cluster.start()        # the same data, the same port
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_START_TIMEOUT = 60


SYSTEM_BIN = Path("/usr/lib/postgresql/15/bin")
"""The machine's PostgreSQL (Debian's postgresql-15), with contrib."""


def _bin(name: str) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    def __init__(self, root: Path, bin_dir: Path | None = None, settings: dict[str, str] | None = None) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sock"
        self.log = root / "postgres.log"
        self.port = _free_port()
        self.user: str | None = None
        self.bin_dir = bin_dir
        self.settings = settings or {}
        if bin_dir is not None:
            if os.geteuid() == 0:  # the machine's binaries run as the account their package made
                from pgserver.utils import ensure_prefix_permissions

                self.user = "postgres"
                ensure_prefix_permissions(root)
        elif os.geteuid() == 0:
            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            self.user = "pgserver"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(root)
            from pgserver._commands import POSTGRES_BIN_PATH

            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
        for path in (self.root, self.sockets):
            path.mkdir(parents=True, exist_ok=True)
            if self.user is not None:
                shutil.chown(path, self.user, self.user)
        self._run(
            self._bin("initdb"),
            "-D",
            str(self.data),
            "--auth=trust",
            "--encoding=utf8",
            "-U",
            "postgres",
            "--no-sync",
        )

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name) if self.bin_dir is not None else _bin(name)

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off -c max_connections=200"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(self._bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` terminates every backend (clients see their connection drop); `immediate` is a crash."""
        self._run(self._bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        result = subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            user=self.user,
            check=False,
        )
        return result.returncode == 0

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            list(args), capture_output=True, text=True, user=self.user, timeout=_START_TIMEOUT, check=False
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:1])} failed: {result.stderr.strip()}\n{log}")


@contextmanager
def private_cluster(bin_dir: Path | None = None, settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A started private cluster, stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="warden-pgcluster-"))
    try:
        cluster = Cluster(root, bin_dir, settings)
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.running:
                cluster.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def machine_cluster(settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A started private cluster of the machine's PostgreSQL (SYSTEM_BIN), with `settings` on its command line."""
    if not (SYSTEM_BIN / "initdb").exists():
        raise RuntimeError(f"no PostgreSQL binaries at {SYSTEM_BIN}: install postgresql-15 (and postgresql-15-hypopg)")
    with private_cluster(SYSTEM_BIN, settings) as cluster:
        yield cluster

"""Fixtures for the fault tests: the backends (started once per session) and a `target` per test.

`target` is parametrized indirectly with a server name; it puts a fresh fault proxy in front of
that server's backend and yields a `Target` ready to `serve()`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.postgres.shop import Shop, shop_database
from tests.resilience import targets
from tests.resilience.targets import Target
from tests.support.faultproxy import FaultProxy
from tests.support.pgcluster import Cluster, private_cluster


@dataclass
class Database:
    cluster: Cluster
    shop: Shop


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    """A private PostgreSQL cluster with the shop database: tests may stop and start it."""
    with private_cluster() as cluster, shop_database(cluster.dsn) as shop:
        yield Database(cluster, shop)


@pytest.fixture(scope="session")
def github_api() -> Iterator[Any]:
    from tests.github.fake_github import start_fake_github

    with start_fake_github() as fake:
        yield fake


@pytest.fixture(scope="session")
def slack_api() -> Iterator[Any]:
    from tests.slack.fake_slack import FakeSlack

    fake = FakeSlack()
    with fake.serving():
        yield fake


@pytest.fixture(scope="session")
def kube_api() -> Iterator[Any]:
    from tests.kubernetes import seed
    from tests.kubernetes.fake_kube import FakeKube

    fake = FakeKube()
    with fake.serving():
        seed.standard(fake)
        yield fake


@pytest.fixture(scope="session")
def aws_api() -> Iterator[tuple[str, int]]:
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in targets.AWS_ENV}
    os.environ.update(targets.AWS_ENV)  # moto's own clients in this process
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield host, port
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """The server named by the parameter, with a fault proxy (in `pass` mode) before its backend."""
    name = request.param
    with _Builder(request, name, tmp_path) as built:
        yield built


class _Builder:
    """Builds the named target; the proxy is stopped on exit."""

    def __init__(self, request: pytest.FixtureRequest, name: str, tmp: Path) -> None:
        self.request, self.name, self.tmp = request, name, tmp
        self.proxy: FaultProxy | None = None

    def __enter__(self) -> Target:
        build = getattr(self, f"_{self.name}")
        return build()  # type: ignore[no-any-return]

    def __exit__(self, *exc_info: object) -> None:
        if self.proxy is not None:
            self.proxy.stop()

    def _proxy(self, port: int) -> FaultProxy:
        self.proxy = FaultProxy(("127.0.0.1", port), name=self.name).start()
        return self.proxy

    def _postgres(self) -> Target:
        db: Database = self.request.getfixturevalue("database")
        proxy = self._proxy(db.cluster.port)
        return Target(
            name="postgres",
            backend="database 'main'",
            proxy=proxy,
            tool="pg_query",
            arguments={"sql": "SELECT count(*) FROM customers"},
            settings={"DSN": targets.through(db.shop.readonly, proxy.port)},
            tmp=self.tmp,
        )

    def _github(self) -> Target:
        fake = self.request.getfixturevalue("github_api")
        fake.restore()
        proxy = self._proxy(fake.api.port)
        return Target(
            name="github",
            backend="GitHub",
            proxy=proxy,
            tool="gh_get_file",
            arguments={"repo": "acme/api", "path": "README.md"},
            settings={"TOKEN": fake.token, "API_URL": proxy.url(), "REPOS": "acme/api"},
            throttle=targets.github_throttle(),
            tmp=self.tmp,
        )

    def _slack(self) -> Target:
        from tests.slack.fake_slack import BOT_TOKEN, GENERAL

        fake = self.request.getfixturevalue("slack_api")
        fake.reset()
        proxy = self._proxy(fake.api.port)
        return Target(
            name="slack",
            backend="Slack",
            proxy=proxy,
            tool="slack_channel_history",
            arguments={"channel": GENERAL},
            settings={"BOT_TOKEN": BOT_TOKEN, "API_URL": proxy.url() + "/api/", "CHANNELS": GENERAL},
            throttle=targets.slack_throttle(),
            tmp=self.tmp,
        )

    def _kubernetes(self) -> Target:
        from tests.kubernetes.fake_kube import DEFAULT_TOKEN

        fake = self.request.getfixturevalue("kube_api")
        proxy = self._proxy(fake.port)
        config = targets.kubeconfig(self.tmp / "kubeconfig", proxy.url(), DEFAULT_TOKEN)
        return Target(
            name="kubernetes",
            backend="the Kubernetes API server",
            proxy=proxy,
            tool="k8s_list",
            arguments={"kind": "pods", "namespace": "shop"},
            settings={"KUBECONFIG": str(config), "NAMESPACES": "shop"},
            throttle=targets.kube_throttle(),
            tmp=self.tmp,
        )

    def _aws(self) -> Target:
        _, port = self.request.getfixturevalue("aws_api")
        proxy = self._proxy(port)
        return Target(
            name="aws",
            backend="AWS",
            proxy=proxy,
            tool="aws_s3_buckets",
            arguments={},
            settings={
                "GROUPS": "inventory",  # the group of aws_s3_buckets, off by default
                "ENDPOINT_URL": proxy.url(),
                "ACCOUNTS": "123456789012",
                "SERVICES": "*",
            },
            extra_env=dict(targets.AWS_ENV),
            throttle=targets.aws_throttle(),
            outage=targets.aws_outage(),
            tmp=self.tmp,
        )

"""Failures of the API server and of the credential: clear, bounded, and retried only when that helps."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.kubernetes import objects as o
from tests.kubernetes.fake_kube import DEFAULT_TOKEN, FakeKube, Response, self_signed, status
from tests.kubernetes.helpers import call, error, ok, text, wire
from warden_core import WardenServer
from warden_kubernetes.client import InCluster
from warden_kubernetes.server import build_server
from warden_kubernetes.settings import Settings

pytestmark = pytest.mark.anyio

Make = Callable[..., WardenServer]
PODS = {"kind": "pods", "namespace": "shop"}
CART = {"kind": "deployment", "name": "cart", "namespace": "shop"}


async def test_a_wrong_token_is_a_clear_401(cluster: FakeKube, tmp_path: Path) -> None:
    config = cluster.kubeconfig(tmp_path / "bad", contexts={"dev": "not-the-token-123456"})
    cluster.tokens.discard("not-the-token-123456")
    server = build_server(Settings.load(kubeconfig=str(config), namespaces=("shop",)))
    message = await error(server, "k8s_list", PODS)
    assert "rejected this server's credential (401" in message
    assert len(cluster.requests) == 1, "a 401 is not retried"
    cluster.kubeconfig(config, contexts={"dev": DEFAULT_TOKEN})  # the operator fixes the file: no restart needed
    assert (await ok(server, "k8s_list", PODS))["count"] == 5


async def test_a_transient_5xx_is_retried(cluster: FakeKube, make_server: Make) -> None:
    cluster.inject("GET", "/pods$", status(503, "ServiceUnavailable", "etcdserver: leader changed"))
    result = await ok(make_server(), "k8s_list", PODS)
    assert result["count"] == 5
    assert len(cluster.calls("GET", "/pods")) == 2


async def test_a_5xx_storm_ends_in_a_clear_error(cluster: FakeKube, make_server: Make) -> None:
    cluster.inject("GET", "/pods$", status(500, "InternalError", "etcdserver: request timed out"), times=10)
    message = await error(make_server(backend_attempts=3), "k8s_list", PODS)
    assert "unavailable" in message and "500" in message
    assert len(cluster.calls("GET", "/pods")) == 3


async def test_429_honours_retry_after(cluster: FakeKube, make_server: Make) -> None:
    cluster.inject("GET", "/pods$", Response(429, {"kind": "Status", "code": 429}, {"Retry-After": "1"}), times=5)
    message = await error(make_server(backend_attempts=2, retry_after_cap=0.05), "k8s_list", PODS)
    assert "throttling" in message and "retry after" in message
    assert len(cluster.calls("GET", "/pods")) == 2


async def test_a_hung_api_server_hits_the_deadline(cluster: FakeKube, make_server: Make) -> None:
    server = make_server(backend_timeout=0.5, backend_attempts=1)
    await ok(server, "k8s_list", {"kind": "services", "namespace": "shop"})  # credential loaded, client imported
    cluster.hang("/pods$", 5)
    message = await error(server, "k8s_list", PODS)
    assert "did not answer within 0.5 s" in message


async def test_a_forbidden_watch_is_reported(cluster: FakeKube, make_server: Make) -> None:
    cluster.add(o.deployment("cart", "shop", replicas=3, updated=1))
    cluster.forbid("watch", "deployments", "shop")
    message = await error(
        make_server(),
        "k8s_rollout_status",
        {"kind": "deployment", "name": "cart", "namespace": "shop", "wait_seconds": 5},
    )
    assert "403" in message and 'cannot watch resource "deployments"' in message


async def test_a_deleted_object_ends_the_watch(cluster: FakeKube, make_server: Make) -> None:
    cart = o.deployment("cart", "shop", replicas=3, updated=1)
    cluster.add(cart)
    cluster.script_watch("deployments", "shop", "cart", [(0.05, "DELETED", cart)])
    message = await error(
        make_server(),
        "k8s_rollout_status",
        {"kind": "deployment", "name": "cart", "namespace": "shop", "wait_seconds": 5},
    )
    assert "deleted while waiting" in message


async def test_a_broken_aggregated_api_does_not_hide_other_kinds(cluster: FakeKube, make_server: Make) -> None:
    cluster.inject("GET", r"^/apis/batch/v1$", status(503, "ServiceUnavailable", "metrics-server is down"), times=5)
    result = await ok(make_server(), "k8s_list", {"kind": "certificates", "namespace": "shop"})
    assert result["count"] == 2


async def test_an_unreachable_api_server(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kube = FakeKube()
    with kube.serving():
        config = kube.kubeconfig(tmp_path / "config")
    config.write_text(config.read_text().replace(f":{kube.port}", f":{port}"))
    server = build_server(
        Settings.load(kubeconfig=str(config), namespaces=("shop",), backend_attempts=2, breaker_threshold=2)
    )
    assert "cannot reach the API server: the connection was refused" in await error(server, "k8s_list", PODS)
    assert not await server.ready()
    assert "unavailable after repeated failures" in await error(server, "k8s_list", PODS)


async def test_an_api_server_that_does_not_resolve_is_named_as_such(tmp_path: Path) -> None:
    kube = FakeKube()
    with kube.serving():
        config = kube.kubeconfig(tmp_path / "config")
        config.write_text(config.read_text().replace(kube.url, "https://no-such-host.invalid"))
    server = build_server(Settings.load(kubeconfig=str(config), namespaces=("shop",), backend_attempts=1))
    message = await error(server, "k8s_list", PODS)
    assert "cannot reach the API server: the host name does not resolve;" in message, message


async def test_in_cluster_service_account_over_tls(tmp_path: Path) -> None:
    """In a pod: token and CA from the ServiceAccount mount, API server address from the environment."""
    cert, key = self_signed(tmp_path)
    token = tmp_path / "token"
    token.write_text("in-cluster-token-R2d2C3po77xyz")
    kube = FakeKube(tokens=["in-cluster-token-R2d2C3po77xyz"])
    kube.add(o.namespace("shop"), o.pod("web-1", "shop"))
    with kube.serving(tls=(cert, key)):
        incluster = InCluster(
            token_file=token,
            ca_file=cert,
            environ={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(kube.port)},
        )
        server = build_server(Settings.load(namespaces=("shop",)), incluster=incluster)
        result = await call(server, "k8s_list", PODS)
        assert not result.is_error, text(result)
        assert [row["name"] for row in result.structured_content["items"]] == ["web-1"]  # type: ignore[index]
        assert kube.requests[0].headers["authorization"] == "bearer in-cluster-token-R2d2C3po77xyz"
        overview = await ok(server, "k8s_cluster_overview", {})
        assert overview["context"] is None and overview["contexts"] == []
        assert await server.ready()
        assert "in-cluster-token-R2d2C3po77xyz" not in wire(result)


async def test_in_cluster_mode_has_no_contexts(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x" * 20)
    server = build_server(
        Settings.load(namespaces=("shop",), contexts=("dev",)),
        incluster=InCluster(token_file=token, ca_file=tmp_path / "ca", environ={}),
    )
    assert "omit `context`" in await error(server, "k8s_list", {**PODS, "context": "dev"})


async def test_a_wrong_ca_is_a_tls_error(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    wrong_ca, _ = self_signed(other)
    kube = FakeKube()
    with kube.serving(tls=(cert, key)):
        config = kube.kubeconfig(tmp_path / "config", ca=wrong_ca)
        server = build_server(Settings.load(kubeconfig=str(config), namespaces=("shop",), backend_attempts=1))
        message = await error(server, "k8s_list", PODS)
    assert "TLS" in message


async def test_kubeconfig_over_tls_with_its_ca(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    kube = FakeKube()
    kube.add(o.pod("web-1", "shop"))
    with kube.serving(tls=(cert, key)):
        config = kube.kubeconfig(tmp_path / "config", ca=cert)
        server = build_server(Settings.load(kubeconfig=str(config), namespaces=("shop",)))
        result = await ok(server, "k8s_list", PODS)
    assert result["count"] == 1
    assert kube.requests[0].headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"


async def test_a_context_missing_from_the_kubeconfig(cluster: FakeKube, make_server: Make) -> None:
    assert "has no context 'staging'" in await error(make_server(context="staging"), "k8s_list", PODS)
    server = make_server(contexts=("dev", "stag*"))
    assert "has no context 'staging-2'" in await error(server, "k8s_list", {**PODS, "context": "staging-2"})
    assert cluster.requests == []

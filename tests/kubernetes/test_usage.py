"""k8s_top: usage from the metrics API (metrics-server) against the fake, with and without metrics-server."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest

from tests.kubernetes import objects as o
from tests.kubernetes.fake_kube import FakeKube, status
from tests.kubernetes.helpers import error, ok
from warden_core import WardenServer
from warden_kubernetes.tools.usage import ABSENT, DOWN, quantity

pytestmark = pytest.mark.anyio

Make = Callable[..., WardenServer]
METRICS = "/apis/metrics.k8s.io/v1beta1"


async def test_top_pods_highest_cpu_first_with_their_containers(cluster: FakeKube, make_server: Make, era: str) -> None:
    cluster.add(o.pod_metrics("api-2", "shop", {"api": ("120m", "180Mi"), "proxy": ("4m", "31Mi")}, {"app": "api"}))
    result = await ok(make_server(), "k8s_top", {"kind": "pods", "namespace": "shop"}, era)
    assert result["available"] is True and result["namespaces"] == ["shop"] and result["count"] == 5
    rows = [(row["name"], row["cpu"], row["memory"]) for row in result["items"]]
    assert rows == [
        ("api-6c9d4-uvwxy", "250m", "230Mi"),
        ("api-2", "124m", "211Mi"),
        ("web-5d8f7-fghij", "4m", "60Mi"),  # 3.1 millicores round up, as kubectl top shows them
        ("web-5d8f7-klmno", "3m", "58Mi"),  # 60000Ki is 58.6 MiB: whole MiB, rounded down
        ("web-5d8f7-abcde", "3m", "64Mi"),
    ]
    api2 = result["items"][1]
    assert api2["namespace"] == "shop"
    assert [(c["name"], c["cpu"], c["memory"]) for c in api2["containers"]] == [
        ("api", "120m", "180Mi"),
        ("proxy", "4m", "31Mi"),
    ]
    assert [r.path for r in cluster.requests] == [f"{METRICS}/namespaces/shop/pods"]


async def test_top_pods_by_memory_limited_and_selected(cluster: FakeKube, make_server: Make) -> None:
    server = make_server()
    result = await ok(server, "k8s_top", {"kind": "pods", "namespace": "shop", "sort": "memory", "limit": 2})
    assert [row["name"] for row in result["items"]] == ["api-6c9d4-uvwxy", "web-5d8f7-abcde"]
    assert result["count"] == 4 and result["truncated"] is True
    web = await ok(server, "k8s_top", {"kind": "pods", "namespace": "shop", "label_selector": "app=web"})
    assert {row["name"] for row in web["items"]} == {"web-5d8f7-abcde", "web-5d8f7-fghij", "web-5d8f7-klmno"}
    assert cluster.requests[-1].query["labelSelector"] == ["app=web"]


async def test_top_pods_across_namespaces_stays_inside_the_allowlist(cluster: FakeKube, make_server: Make) -> None:
    """With globs the metrics list is cluster-wide and filtered here: kube-system's coredns never shows."""
    result = await ok(make_server(namespaces=("shop", "team-*")), "k8s_top", {"kind": "pods"})
    assert result["items"][0]["name"] == "worker-1" and result["items"][0]["cpu"] == "1000m"
    assert {row["namespace"] for row in result["items"]} == {"shop", "team-a"}
    assert [r.path for r in cluster.requests] == [f"{METRICS}/pods"]


async def test_top_nodes_with_their_share_of_allocatable(cluster: FakeKube, make_server: Make, era: str) -> None:
    result = await ok(make_server(), "k8s_top", {"kind": "nodes"}, era)
    assert [(row["name"], row["cpu"], row["memory"]) for row in result["items"]] == [
        ("node-1", "1520m (40%)", "6144Mi (41%)"),
        ("node-2", "380m (10%)", "3072Mi (20%)"),
    ]
    assert result["namespaces"] is None and result["count"] == 2  # node-3 stopped reporting
    assert [r.path for r in cluster.requests] == [f"{METRICS}/nodes", "/api/v1/nodes"]
    assert "namespace" in await error(make_server(), "k8s_top", {"kind": "nodes", "namespace": "shop"})


async def test_without_metrics_server_the_answer_says_so(cluster: FakeKube, make_server: Make) -> None:
    cluster.remove_api("metrics.k8s.io")
    server = make_server()
    for kind in ("pods", "nodes"):
        result = await ok(server, "k8s_top", {"kind": kind, "namespace": "shop"} if kind == "pods" else {"kind": kind})
        assert result == {
            "kind": kind,
            "namespaces": ["shop"] if kind == "pods" else None,
            "available": False,
            "count": 0,
            "items": [],
            "truncated": False,
            "note": ABSENT,
        }
    assert len(cluster.calls("GET", "metrics.k8s.io")) == 2, "a 404 is an answer: no retry"


async def test_a_metrics_server_that_is_down_neither_retries_nor_opens_the_breaker(
    cluster: FakeKube, make_server: Make
) -> None:
    """An APIService whose backend is down answers 503; that is not the API server failing."""
    down = status(503, "ServiceUnavailable", "the server is currently unable to handle the request")
    cluster.inject("GET", "metrics.k8s.io", down, times=20)
    server = make_server(breaker_threshold=2)
    for _ in range(4):
        result = await ok(server, "k8s_top", {"kind": "pods", "namespace": "shop"})
        assert result["available"] is False and result["note"] == DOWN
    assert len(cluster.calls("GET", "metrics.k8s.io")) == 4
    assert await server.ready()
    assert (await ok(server, "k8s_list", {"kind": "pods", "namespace": "shop"}))["count"] == 5


async def test_other_metrics_failures_are_errors(cluster: FakeKube, make_server: Make) -> None:
    cluster.forbid("list", "pods", "shop")  # RBAC without pods.metrics.k8s.io looks the same to the server
    message = await error(make_server(), "k8s_top", {"kind": "pods", "namespace": "shop"})
    assert "403" in message and "PodMetrics" in message


async def test_denied_kinds_close_top(cluster: FakeKube, make_server: Make) -> None:
    server = make_server(deny_kinds=("pods",))
    assert "denied" in await error(server, "k8s_top", {"kind": "pods", "namespace": "shop"})
    assert cluster.requests == []
    nodes_denied = await ok(make_server(deny_kinds=("Node",)), "k8s_top", {"kind": "nodes"})
    assert nodes_denied["items"][0]["cpu"] == "1520m" and "denied" in nodes_denied["note"]
    assert not cluster.calls("GET", "/api/v1/nodes")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Fraction(1, 4)),
        ("2500000n", Fraction(1, 400)),
        ("1.5", Fraction(3, 2)),
        ("129548Ki", 129548 * 1024),
        ("3Gi", 3 * 2**30),
        ("1e3", 1000),
        ("2k", 2000),
        ("12u", Fraction(12, 10**6)),
        ("", 0),
        ("1.2.3", 0),
        ("9" * 31, 0),  # longer than any quantity: not parsed at all
    ],
)
def test_quantities(text: str, value: Fraction) -> None:
    assert quantity(text) == value

"""Writes (off by default): scale, rollout restart and delete pod, each confirmed by the user and limited
to the write namespaces."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mcp import types
from mcp.shared.exceptions import MCPError

from tests.kubernetes.fake_kube import FakeKube, status
from tests.kubernetes.helpers import call, text
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio

Make = Callable[..., WardenServer]
WRITES = {"read_only": False, "allow_destructive": True, "write_namespaces": ("shop",)}


class User:
    """An elicitation callback that answers like a user would, and remembers what it was asked."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action, self.confirm = action, confirm
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return types.ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


async def test_scale_after_confirmation(cluster: FakeKube, make_server: Make, era: str) -> None:
    user = User()
    result = await call(
        make_server(**WRITES),
        "k8s_scale",
        {"kind": "deployment", "name": "web", "namespace": "shop", "replicas": 5},
        era,
        elicitation_callback=user,
    )
    assert not result.is_error, text(result)
    assert result.structured_content == {
        "kind": "Deployment",
        "name": "web",
        "namespace": "shop",
        "previous_replicas": 3,
        "replicas": 5,
    }
    assert user.asked == ["Scale deployment shop/web to 5 replicas?"]
    patch = cluster.calls("PATCH")[0]
    assert patch.path == "/apis/apps/v1/namespaces/shop/deployments/web/scale"
    assert patch.headers["content-type"] == "application/merge-patch+json"
    assert patch.json() == {"spec": {"replicas": 5}}
    assert cluster.get("deployments", "web", "shop")["spec"]["replicas"] == 5  # type: ignore[index]


@pytest.mark.parametrize(("action", "confirm"), [("decline", False), ("cancel", False), ("accept", False)])
async def test_nothing_changes_unless_the_user_confirms(
    cluster: FakeKube, make_server: Make, action: str, confirm: bool
) -> None:
    result = await call(
        make_server(**WRITES),
        "k8s_delete_pod",
        {"name": "web-5d8f7-abcde", "namespace": "shop"},
        elicitation_callback=User(action, confirm),
    )
    assert result.is_error and "was not confirmed by the user; nothing was changed" in text(result)
    assert cluster.requests == []
    assert cluster.get("pods", "web-5d8f7-abcde", "shop") is not None


async def test_a_client_without_elicitation_is_refused(cluster: FakeKube, make_server: Make, era: str) -> None:
    server = make_server(**WRITES)
    async with connect(server, era) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("k8s_rollout_restart", {"kind": "deployment", "name": "web", "namespace": "shop"})
    assert raised.value.error.code == -32021
    assert cluster.requests == []


async def test_writes_outside_the_write_namespaces_make_no_api_call(
    cluster: FakeKube, make_server: Make, capfd: pytest.CaptureFixture[str]
) -> None:
    """Refused before the user is even asked: nobody should approve a write that cannot happen."""
    server = make_server(**WRITES, namespaces=("*",))
    user = User()
    for tool, arguments in (
        ("k8s_scale", {"kind": "statefulset", "name": "db", "namespace": "team-a", "replicas": 0}),
        ("k8s_delete_pod", {"name": "coredns-abc", "namespace": "kube-system"}),
        ("k8s_rollout_restart", {"kind": "daemonset", "name": "kube-proxy", "namespace": "kube-system"}),
    ):
        result = await call(server, tool, arguments, elicitation_callback=user)
        assert result.is_error and "WARDEN_KUBERNETES_WRITE_NAMESPACES" in text(result)
    assert cluster.requests == [] and user.asked == []
    audit = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith('{"request_id"')]
    calls = [event for event in audit if event.get("method") == "tools/call"]
    assert [(e["decision"], e["outcome"]) for e in calls] == [("deny", "policy_denied")] * 3


async def test_writes_check_the_context_allowlist(cluster: FakeKube, make_server: Make) -> None:
    user = User()
    result = await call(
        make_server(**WRITES, contexts=("dev",)),
        "k8s_delete_pod",
        {"name": "web-5d8f7-abcde", "namespace": "shop", "context": "prod"},
        elicitation_callback=user,
    )
    assert result.is_error and "WARDEN_KUBERNETES_CONTEXTS" in text(result)
    assert cluster.requests == [] and user.asked == []


async def test_rollout_restart_patches_the_pod_template(cluster: FakeKube, make_server: Make) -> None:
    before = cluster.get("deployments", "api", "shop")["metadata"]["generation"]  # type: ignore[index]
    result = await call(
        make_server(**WRITES),
        "k8s_rollout_restart",
        {"kind": "deployment", "name": "api", "namespace": "shop"},
        elicitation_callback=User(),
    )
    assert not result.is_error, text(result)
    stamp = result.structured_content["restarted_at"]  # type: ignore[index]
    patch = cluster.calls("PATCH")[0]
    assert patch.path == "/apis/apps/v1/namespaces/shop/deployments/api"
    assert patch.json() == {
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}
    }
    after = cluster.get("deployments", "api", "shop")
    assert after["metadata"]["generation"] == before + 1  # type: ignore[index]


async def test_delete_pod_names_its_controller(cluster: FakeKube, make_server: Make, era: str) -> None:
    result = await call(
        make_server(**WRITES),
        "k8s_delete_pod",
        {"name": "api-6c9d4-pqrst", "namespace": "shop"},
        era,
        elicitation_callback=User(),
    )
    assert result.structured_content == {
        "name": "api-6c9d4-pqrst",
        "namespace": "shop",
        "deleted": True,
        "owner": "ReplicaSet/api-6c9d4",
    }
    assert [(r.method, r.path) for r in cluster.requests][-1] == (
        "DELETE",
        "/api/v1/namespaces/shop/pods/api-6c9d4-pqrst",
    )
    assert cluster.get("pods", "api-6c9d4-pqrst", "shop") is None


async def test_writes_are_never_retried(cluster: FakeKube, make_server: Make) -> None:
    cluster.inject("PATCH", "/scale$", status(503, "ServiceUnavailable", "etcd leader changed"), times=3)
    result = await call(
        make_server(**WRITES, backend_attempts=3),
        "k8s_scale",
        {"kind": "deployment", "name": "web", "namespace": "shop", "replicas": 1},
        elicitation_callback=User(),
    )
    assert result.is_error and "unavailable" in text(result)
    assert len(cluster.calls("PATCH")) == 1

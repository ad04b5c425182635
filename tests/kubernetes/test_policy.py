"""The policy: namespace, context and kind rules are checked before any request reaches the API server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes.conftest import PROD_TOKEN
from tests.kubernetes.fake_kube import DEFAULT_TOKEN, FakeKube
from tests.kubernetes.helpers import call, error, ok, text
from warden_core import WardenServer
from warden_kubernetes.client import check_request

pytestmark = pytest.mark.anyio

Make = Callable[..., WardenServer]

OUTSIDE = [
    ("k8s_list", {"kind": "pods", "namespace": "kube-system"}),
    ("k8s_get", {"kind": "pod", "name": "coredns-abc", "namespace": "kube-system"}),
    ("k8s_get", {"kind": "secret", "name": "bootstrap-token-abcdef", "namespace": "kube-system", "output": "json"}),
    ("k8s_get", {"kind": "pod", "name": "coredns-abc", "namespace": "kube-system", "output": "describe"}),
    ("k8s_events", {"namespace": "kube-system"}),
    ("k8s_pod_logs", {"name": "coredns-abc", "namespace": "kube-system"}),
    ("k8s_rollout_status", {"kind": "daemonset", "name": "kube-proxy", "namespace": "kube-system"}),
    ("k8s_get", {"kind": "namespace", "name": "kube-system"}),
    ("k8s_top", {"kind": "pods", "namespace": "kube-system"}),
]


@pytest.mark.parametrize(("tool", "arguments"), OUTSIDE)
async def test_namespace_refusals_make_no_api_call(
    cluster: FakeKube, make_server: Make, tool: str, arguments: dict[str, Any], era: str
) -> None:
    server = make_server(namespaces=("shop", "team-*"))
    message = await error(server, tool, arguments, era)
    assert "not allowed by this server's policy (WARDEN_KUBERNETES_NAMESPACES)" in message
    assert cluster.requests == []


async def test_no_namespace_configured_means_no_namespaced_reads(cluster: FakeKube, make_server: Make) -> None:
    server = make_server(namespaces=())
    for tool, arguments in (("k8s_list", {"kind": "pods"}), ("k8s_events", {}), ("k8s_top", {"kind": "pods"})):
        message = await error(server, tool, arguments)
        assert "set WARDEN_KUBERNETES_NAMESPACES" in message
    assert cluster.requests == []
    nodes = await ok(server, "k8s_list", {"kind": "nodes"})  # cluster-scoped reads still work
    assert nodes["count"] == 3
    overview = await ok(server, "k8s_cluster_overview", {})
    assert overview["unhealthy_pods"] == [] and "pod health was not checked" in " ".join(overview["notes"])
    assert not cluster.calls("GET", "/pods")


async def test_all_namespaces_with_a_star(cluster: FakeKube, make_server: Make) -> None:
    result = await ok(make_server(namespaces=("*",)), "k8s_list", {"kind": "pods"})
    assert "kube-system" in {row["namespace"] for row in result["items"]}
    assert [r.path for r in cluster.requests] == ["/api/v1/pods"]


# --- contexts -----------------------------------------------------------------------------------------
async def test_a_context_outside_the_allowlist_is_refused_before_loading_it(
    cluster: FakeKube, make_server: Make
) -> None:
    server = make_server(contexts=("dev",))
    for tool, arguments in (("k8s_list", {"kind": "pods", "namespace": "shop"}), ("k8s_cluster_overview", {})):
        message = await error(server, tool, {**arguments, "context": "prod"})
        assert "WARDEN_KUBERNETES_CONTEXTS" in message
    assert cluster.requests == []


async def test_an_allowed_context_uses_its_own_credential(cluster: FakeKube, make_server: Make) -> None:
    server = make_server(contexts=("dev", "prod"))
    await ok(server, "k8s_list", {"kind": "pods", "namespace": "shop", "context": "prod"})
    await ok(server, "k8s_list", {"kind": "pods", "namespace": "shop"})
    tokens = [r.headers["authorization"] for r in cluster.requests]
    assert tokens == [f"Bearer {PROD_TOKEN}", f"Bearer {DEFAULT_TOKEN}"]
    overview = await ok(server, "k8s_cluster_overview", {"context": "prod"})
    assert overview["context"] == "prod" and overview["contexts"] == ["dev", "prod"]


async def test_the_default_context_must_be_allowed_when_contexts_are_listed(
    cluster: FakeKube, make_server: Make
) -> None:
    """Someone ran `kubectl config use-context dev`; the server was told to use prod only."""
    server = make_server(contexts=("prod",))
    message = await error(server, "k8s_list", {"kind": "pods", "namespace": "shop"})
    assert "the default context 'dev' is not allowed" in message
    assert cluster.requests == []
    pinned = make_server(context="prod")
    await ok(pinned, "k8s_list", {"kind": "pods", "namespace": "shop"})
    assert cluster.requests[-1].headers["authorization"] == f"Bearer {PROD_TOKEN}"


# --- kinds ------------------------------------------------------------------------------------------------
async def test_denied_builtin_kinds_make_no_api_call(cluster: FakeKube, make_server: Make) -> None:
    server = make_server(deny_kinds=("Secret", "configmaps"))
    for tool, arguments in (
        ("k8s_list", {"kind": "secrets", "namespace": "shop"}),
        ("k8s_list", {"kind": "Secret", "namespace": "shop"}),
        ("k8s_get", {"kind": "secret", "name": "db-credentials", "namespace": "shop"}),
        ("k8s_get", {"kind": "cm", "name": "app-config", "namespace": "shop", "output": "describe"}),
    ):
        assert "denied by this server's policy (WARDEN_KUBERNETES_DENY_KINDS)" in await error(server, tool, arguments)
    assert cluster.requests == []


async def test_denied_crds_are_refused_after_discovery_before_the_resource(
    cluster: FakeKube, make_server: Make
) -> None:
    server = make_server(deny_kinds=("*.cert-manager.io",))
    message = await error(server, "k8s_list", {"kind": "Certificate", "namespace": "shop"})
    assert "Certificate (certificates.cert-manager.io) is denied" in message
    assert not cluster.calls("GET", "/certificates"), "only discovery ran"


async def test_denied_pods_and_events_close_their_tools(cluster: FakeKube, make_server: Make) -> None:
    server = make_server(deny_kinds=("pods", "events"))
    assert "denied" in await error(server, "k8s_pod_logs", {"name": "api-6c9d4-pqrst", "namespace": "shop"})
    assert "denied" in await error(server, "k8s_events", {"namespace": "shop"})
    assert cluster.requests == []
    described = await ok(
        server, "k8s_get", {"kind": "deployment", "name": "api", "namespace": "shop", "output": "describe"}
    )
    assert described["events"] == [] and "denied" in described["note"]
    overview = await ok(server, "k8s_cluster_overview", {})
    assert "pods are a denied kind on this server" in overview["notes"]


# --- what can never be requested ----------------------------------------------------------------------------
async def test_names_cannot_reach_other_paths(cluster: FakeKube, make_server: Make) -> None:
    server = make_server()
    for arguments in (
        {"kind": "pod", "name": "api-6c9d4-pqrst/exec", "namespace": "shop"},
        {"kind": "pod", "name": "../../nodes/node-1/proxy", "namespace": "shop"},
        {"kind": "pods/exec", "name": "x", "namespace": "shop"},
        {"kind": "pod", "name": "x", "namespace": "shop/../kube-system"},
    ):
        result = await call(server, "k8s_get", arguments)
        # Refused by the schema pattern, or (for a namespace) by the allowlist, which is checked first.
        refusal = text(result).lower()
        assert result.is_error and ("invalid arguments" in refusal or "not allowed by this server's policy" in refusal)
    assert cluster.requests == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/namespaces/shop/pods/web/exec"),
        ("POST", "/api/v1/namespaces/shop/pods/web/exec"),
        ("GET", "/api/v1/namespaces/shop/pods/web/attach"),
        ("GET", "/api/v1/namespaces/shop/pods/web/portforward"),
        ("GET", "/api/v1/namespaces/shop/services/web/proxy"),
        ("GET", "/api/v1/nodes/node-1/proxy"),
        ("GET", "/api/v1/nodes/node-1/proxy/metrics"),
        ("POST", "/api/v1/namespaces/shop/pods"),
        ("PUT", "/apis/apps/v1/namespaces/shop/deployments/web"),
        ("PATCH", "/api/v1/namespaces/shop/pods/web"),
        ("DELETE", "/apis/apps/v1/namespaces/shop/deployments/web"),
        ("DELETE", "/api/v1/namespaces/shop/pods"),
        ("POST", "/api/v1/namespaces/shop/serviceaccounts/default/token"),
        ("GET", "/healthz"),
        ("GET", "/logs/kube-apiserver.log"),
    ],
)
def test_the_client_refuses_every_other_request(method: str, path: str) -> None:
    with pytest.raises(RuntimeError, match="refused"):
        check_request(method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/version"),
        ("GET", "/apis"),
        ("GET", "/api/v1/namespaces/shop/pods"),
        ("GET", "/api/v1/namespaces/shop/pods/web/log"),
        ("GET", "/apis/cert-manager.io/v1/namespaces/shop/certificates/x"),
        ("GET", "/api/v1/namespaces/exec"),  # a namespace named exec is just a name
        ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale"),
        ("PATCH", "/apis/apps/v1/namespaces/shop/daemonsets/agent"),
        ("DELETE", "/api/v1/namespaces/shop/pods/web"),
    ],
)
def test_the_client_allows_what_warden_needs(method: str, path: str) -> None:
    check_request(method, path)


RBAC = Path(__file__).parents[2] / "deploy/kubernetes/warden-kubernetes/rbac.yaml"


def test_rbac_manifest_is_read_only_and_excludes_secrets() -> None:
    import yaml

    documents = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    kinds = [d["kind"] for d in documents]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding"]
    role, helm, access, binding = documents[1:]
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        assert "*" not in rule.get("resources", []) and "*" not in rule.get("apiGroups", [])
        assert not {"secrets", "pods/exec", "pods/attach", "pods/portforward", "pods/proxy"} & set(rule["resources"])
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == documents[0]["metadata"]["name"]
    # The helm group's grant: listing Secrets, nothing else, and bound by the operator per namespace.
    assert helm["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]
    # The access group's only create is the LocalSubjectAccessReview, which stores nothing.
    creates = [rule for rule in access["rules"] if "create" in rule["verbs"]]
    assert creates == [
        {"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]}
    ]


def test_the_readme_shows_the_rbac_manifest_as_it_is() -> None:
    readme = Path(__file__).parents[2] / "servers/kubernetes/README.md"
    assert f"```yaml\n{RBAC.read_text()}```" in readme.read_text()


def test_rbac_manifest_validates_against_the_kubernetes_schemas() -> None:
    import kubernetes_validate
    import yaml

    for document in yaml.safe_load_all(RBAC.read_text()):
        kubernetes_validate.validate(document, "1.31", strict=True)


def test_readme_shows_the_same_rbac() -> None:
    root = Path(__file__).parents[2]
    manifest = (root / "deploy/kubernetes/warden-kubernetes/rbac.yaml").read_text()
    readme = (root / "servers/kubernetes/README.md").read_text()
    assert f"```yaml\n{manifest}```" in readme

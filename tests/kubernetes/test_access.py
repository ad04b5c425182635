"""k8s_access: the RBAC review against the fake's authorizer (its RBAC objects, evaluated as the API
server does), inside the namespace allowlist; the reviews are creates that store nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.kubernetes import seed
from tests.kubernetes.fake_kube import FakeKube
from tests.kubernetes.helpers import error, ok
from warden_core import WardenServer
from warden_kubernetes.client import check_request
from warden_kubernetes.tools import DEFAULT_GROUPS
from warden_kubernetes.tools.access import Subject

pytestmark = pytest.mark.anyio

Make = Callable[..., WardenServer]
ACCESS_ON = {"groups": (*DEFAULT_GROUPS, "access")}  # the access group is off by default
REVIEWS = "/apis/authorization.k8s.io/v1"
CI = "system:serviceaccount:shop:ci"
BASIC_USER = {
    "binding": "ClusterRoleBinding system:basic-user",
    "role": "ClusterRole/system:basic-user",
    "subject": "Group system:authenticated",
    "rules": ["create selfsubjectaccessreviews,selfsubjectrulesreviews (authorization.k8s.io)"],
}


@pytest.fixture
def rbac(cluster: FakeKube) -> FakeKube:
    seed.rbac(cluster)
    return cluster


def stored(kube: FakeKube) -> int:
    return sum(len(objects) for objects in kube.store.values())


async def test_the_servers_own_rules_in_a_namespace(rbac: FakeKube, make_server: Make, era: str) -> None:
    before = stored(rbac)
    result = await ok(make_server(**ACCESS_ON), "k8s_access", {"view": "rules", "namespace": "shop"}, era)
    assert result["subject"] == "this server's identity" and result["incomplete"] is False
    assert result["rules"] == [
        "get,list,watch pods,pods/log,services,configmaps,events,namespaces,nodes (core)",
        "create selfsubjectaccessreviews,selfsubjectrulesreviews (authorization.k8s.io)",
    ]
    (request,) = rbac.requests
    assert (request.method, request.path) == ("POST", f"{REVIEWS}/selfsubjectrulesreviews")
    assert request.json() == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": "shop"},
    }
    assert stored(rbac) == before, "a review creates nothing"


async def test_check_a_service_account(rbac: FakeKube, make_server: Make, era: str) -> None:
    server = make_server(**ACCESS_ON)
    check = {"view": "check", "namespace": "shop", "subject": CI, "verb": "patch"}
    result = await ok(server, "k8s_access", {**check, "resource": "deploy"}, era)
    assert result["allowed"] is True and result["note"] is None
    assert (
        result["reason"]
        == 'RBAC: allowed by RoleBinding "deployers/shop" of ClusterRole "edit" to ServiceAccount "ci/shop"'
    )
    (request,) = rbac.calls("POST")
    assert request.path == f"{REVIEWS}/namespaces/shop/localsubjectaccessreviews"
    assert request.json()["spec"] == {
        "resourceAttributes": {"namespace": "shop", "verb": "patch", "group": "apps", "resource": "deployments"},
        "groups": ["system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"],
        "user": CI,
    }
    scale = await ok(server, "k8s_access", {**check, "resource": "deployments/scale", "name": "web"})
    assert scale["allowed"] is True
    assert rbac.calls("POST")[-1].json()["spec"]["resourceAttributes"] | {} == {
        "namespace": "shop",
        "verb": "patch",
        "group": "apps",
        "resource": "deployments",
        "subresource": "scale",
        "name": "web",
    }
    elsewhere = await ok(server, "k8s_access", {**check, "namespace": "team-a", "resource": "deploy"})
    assert elsewhere["allowed"] is False and elsewhere["reason"] is None


async def test_check_users_and_groups(rbac: FakeKube, make_server: Make) -> None:
    server = make_server(**ACCESS_ON)
    alice = {"view": "check", "namespace": "shop", "subject": "alice@example.com"}
    reads = await ok(server, "k8s_access", {**alice, "verb": "list", "resource": "pods"})
    deletes = await ok(server, "k8s_access", {**alice, "verb": "delete", "resource": "pods"})
    assert reads["allowed"] is True and deletes["allowed"] is False
    assert "only system:authenticated was assumed" in deletes["note"]
    oncall = {"view": "check", "namespace": "shop", "subject": "group:oncall", "verb": "get"}
    assert (await ok(server, "k8s_access", {**oncall, "resource": "pods/log"}))["allowed"] is True
    assert (await ok(server, "k8s_access", {**oncall, "resource": "secrets"}))["allowed"] is False
    assert "user" not in rbac.calls("POST")[-1].json()["spec"], "a group is asked about as a group"


async def test_bindings_that_name_a_subject_with_their_rules(rbac: FakeKube, make_server: Make, era: str) -> None:
    server = make_server(**ACCESS_ON)
    alice = await ok(
        server, "k8s_access", {"view": "bindings", "namespace": "shop", "subject": "alice@example.com"}, era
    )
    assert alice["bindings"] == [
        {
            "binding": "RoleBinding shop/viewers",
            "role": "ClusterRole/view",
            "subject": "User alice@example.com",
            "rules": ["get,list,watch pods,pods/log,services,configmaps,events (core)"],
        },
        BASIC_USER,
    ], "team-a's and kube-system's bindings are not shop's"
    ci = await ok(server, "k8s_access", {"view": "bindings", "namespace": "shop", "subject": CI})
    assert [(b["binding"], b["subject"]) for b in ci["bindings"]] == [
        ("RoleBinding shop/deployers", "ServiceAccount shop/ci"),
        ("ClusterRoleBinding system:basic-user", "Group system:authenticated"),
    ]
    assert (
        ci["bindings"][0]["rules"][1]
        == "create,delete,get,list,patch,update,watch deployments,deployments/scale (apps)"
    )
    assert not [r.path for r in rbac.requests if "kube-system" in r.path or "team-a" in r.path]


async def test_bindings_without_cluster_wide_rights(rbac: FakeKube, make_server: Make) -> None:
    """Bound per namespace, the server cannot list clusterrolebindings or read ClusterRoles: it says so."""
    rbac.forbid("list", "clusterrolebindings")
    rbac.forbid("get", "clusterroles")
    result = await ok(make_server(**ACCESS_ON), "k8s_access", {"view": "bindings", "namespace": "shop", "subject": CI})
    assert result["bindings"] == [
        {
            "binding": "RoleBinding shop/deployers",
            "role": "ClusterRole/edit",
            "subject": "ServiceAccount shop/ci",
            "rules": [],
        }
    ]
    assert "may not list clusterrolebindings" in result["note"]
    assert "the rules of ClusterRole edit are not shown" in result["note"]


async def test_refusals(rbac: FakeKube, make_server: Make) -> None:
    server = make_server(**ACCESS_ON, namespaces=("shop", "team-*"))
    for arguments in (
        {"view": "rules", "namespace": "kube-system"},
        {"view": "check", "namespace": "kube-system", "subject": CI, "verb": "get", "resource": "pods"},
        {"view": "bindings", "namespace": "kube-system", "subject": "alice@example.com"},
    ):
        assert "WARDEN_KUBERNETES_NAMESPACES" in await error(server, "k8s_access", arguments)
    assert "give `subject`" in await error(server, "k8s_access", {"view": "bindings", "namespace": "shop"})
    assert "`verb` and `resource`" in await error(
        server, "k8s_access", {"view": "check", "namespace": "shop", "subject": CI}
    )
    assert rbac.requests == []
    denied = make_server(**ACCESS_ON, deny_kinds=("rolebindings",))
    assert "denied" in await error(denied, "k8s_access", {"view": "bindings", "namespace": "shop", "subject": CI})
    assert rbac.requests == []


async def test_without_the_grant_the_check_says_which_role_to_bind(rbac: FakeKube, make_server: Make) -> None:
    rbac.forbid("create", "localsubjectaccessreviews", "shop")
    message = await error(
        make_server(**ACCESS_ON),
        "k8s_access",
        {"view": "check", "namespace": "shop", "subject": CI, "verb": "get", "resource": "pods"},
    )
    assert "may not create localsubjectaccessreviews in namespace shop" in message
    assert "warden-kubernetes-access" in message


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (f"{REVIEWS}/selfsubjectrulesreviews", True),
        (f"{REVIEWS}/namespaces/shop/localsubjectaccessreviews", True),
        (f"{REVIEWS}/subjectaccessreviews", False),  # cluster-wide: outside any namespace allowlist
        (f"{REVIEWS}/selfsubjectaccessreviews", False),
        (f"{REVIEWS}/namespaces/shop/localsubjectaccessreviews/x", False),
        ("/api/v1/namespaces/shop/pods", False),
        ("/api/v1/namespaces/shop/serviceaccounts/ci/token", False),
    ],
)
def test_the_client_posts_only_the_two_reviews(path: str, allowed: bool) -> None:
    if allowed:
        check_request("POST", path)
    else:
        with pytest.raises(RuntimeError, match="refused"):
            check_request("POST", path)
    with pytest.raises(RuntimeError):
        check_request("PUT", path)


def test_subjects() -> None:
    account = Subject.parse(CI)
    assert account.user == CI and account.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:shop",
        "system:authenticated",
    )
    assert account.named_by({"kind": "ServiceAccount", "name": "ci", "namespace": "shop"})
    assert not account.named_by({"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"})
    assert not account.named_by({"kind": "User", "name": "ci"})
    group = Subject.parse("group:oncall")
    assert group.user is None and group.named_by({"kind": "Group", "name": "oncall"})
    assert not group.named_by({"kind": "User", "name": "oncall"})
    assert Subject.parse("bob").named_by({"kind": "Group", "name": "system:authenticated"})

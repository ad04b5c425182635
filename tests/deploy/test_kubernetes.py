"""deploy/kubernetes: valid against the Kubernetes schemas (offline), hardened, and consistent.

Schemas come from `kubernetes-validate`, which bundles them: no cluster and no network. The
manifests are checked against the three minor versions upstream supports in November 2026
(1.35, 1.36, 1.37), in strict mode, so an unknown or misspelled field fails too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.support import ROOT, SERVERS, ports, registered

KUBE = ROOT / "deploy" / "kubernetes"
VERSIONS = ("1.35", "1.36", "1.37")
MANIFESTS = sorted(path for path in KUBE.rglob("*.yaml") if path.name != "kustomization.yaml")
RBAC = KUBE / "warden-kubernetes" / "rbac.yaml"
OVERLAYS = KUBE / "overlays"
IMPERSONATION = OVERLAYS / "impersonation"
KINDS = {"Deployment", "Service", "ServiceAccount", "NetworkPolicy", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def objects(name: str) -> dict[str, list[dict[str, Any]]]:
    """warden-<name>'s objects by kind."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((KUBE / f"warden-{name}").glob("*.yaml")):
        for doc in documents(path):
            found.setdefault(doc["kind"], []).append(doc)
    return found


def one(name: str, kind: str) -> dict[str, Any]:
    (obj,) = objects(name)[kind]
    return obj


# --- Schemas. -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(KUBE)))
def test_manifest_is_valid_against_the_kubernetes_schema(path: Path, version: str) -> None:
    for doc in documents(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_what_a_cluster_would() -> None:
    deployment = one("slack", "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**one("slack", "Service"), "spec": {"ports": "8104"}}, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    base = [path for path in MANIFESTS if OVERLAYS not in path.parents]
    assert sorted(KUBE / entry for entry in kustomization["resources"]) == base


def test_namespace_enforces_the_restricted_pod_security_profile() -> None:
    (namespace,) = documents(KUBE / "namespace.yaml")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for path in MANIFESTS:
        for doc in documents(path):
            if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
                assert doc["metadata"]["namespace"] == "warden", path


# --- Each server's set of objects. ------------------------------------------------------------------------
@pytest.mark.parametrize("name", SERVERS)
def test_every_server_has_its_objects(name: str) -> None:
    kinds = {kind: len(objs) for kind, objs in objects(name).items()}
    expected = dict.fromkeys(KINDS, 1)
    if name == "kubernetes":
        expected |= {"ClusterRole": 3, "ClusterRoleBinding": 1}
    assert kinds == expected
    for objs in objects(name).values():
        assert objs[0]["metadata"]["name"].startswith(f"warden-{name}")
        assert objs[0]["metadata"]["labels"]["app.kubernetes.io/name"] == f"warden-{name}"


@pytest.mark.parametrize("name", SERVERS)
def test_deployment_is_hardened(name: str) -> None:
    pod = one(name, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is (name == "kubernetes")
    assert pod["enableServiceLinks"] is False  # else WARDEN_<NAME>_PORT=tcp://... lands in the settings
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    assert [c["name"] for c in pod["containers"]] == [f"warden-{name}"]
    assert not pod.get("initContainers")
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security.get("privileged", False) is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert not container["image"].endswith(":latest") and ":" in container["image"]
    # The only writable path is a small in-memory /tmp.
    (volume,) = pod["volumes"]
    assert volume["emptyDir"]["medium"] == "Memory" and volume["emptyDir"]["sizeLimit"]
    assert container["volumeMounts"] == [{"name": volume["name"], "mountPath": "/tmp"}]


@pytest.mark.parametrize("name", SERVERS)
def test_probes_ask_healthz_and_readyz_on_the_servers_port(name: str) -> None:
    (container,) = one(name, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": ports()[name], "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


@pytest.mark.parametrize("name", SERVERS)
def test_deployment_serves_http_with_settings_the_server_knows(name: str) -> None:
    (container,) = one(name, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    prefix = f"WARDEN_{name.upper()}_"
    assert all(key.startswith(prefix) for key in env)
    if name in registered():  # every name is a setting of this server (a typo would be silently ignored)
        assert all(key.removeprefix(prefix).lower() in registered()[name].settings.model_fields for key in env)
    assert env[f"{prefix}TRANSPORT"] == "http"
    assert env[f"{prefix}HOST"] == "0.0.0.0"
    assert env[f"{prefix}PORT"] == str(ports()[name])
    assert env[f"{prefix}STATELESS_HTTP"] == "true"
    assert f"warden-{name}.warden.svc:*" in env[f"{prefix}ALLOWED_HOSTS"].split(",")
    # Credentials and API keys come from a Secret, never from the manifest.
    assert {"secretRef": {"name": f"warden-{name}"}} in container["envFrom"]


@pytest.mark.parametrize("name", SERVERS)
def test_service_account_and_its_token(name: str) -> None:
    pod = one(name, "Deployment")["spec"]["template"]["spec"]
    account = one(name, "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is (name == "kubernetes")


@pytest.mark.parametrize("name", SERVERS)
def test_service_network_policy_and_autoscaler_point_at_the_deployment(name: str) -> None:
    deployment = one(name, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it

    service = one(name, "Service")["spec"]
    assert service["selector"] == selector
    assert service["ports"] == [{"name": "http", "port": ports()[name], "targetPort": "http", "protocol": "TCP"}]

    policy = one(name, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == selector
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": ports()[name]}]}]
    egress_ports = [{p["port"] for p in rule["ports"]} for rule in policy["egress"]]
    assert all(rule.get("to") and rule.get("ports") for rule in policy["egress"])  # no allow-everything rule
    assert {53} in egress_ports and {6379} in egress_ports  # DNS, and Redis for shared rate limits

    hpa = one(name, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"warden-{name}"}
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert one(name, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector


def test_kubernetes_server_reads_the_cluster_and_nothing_more() -> None:
    roles = {role["metadata"]["name"]: role for role in objects("kubernetes")["ClusterRole"]}
    role = roles["warden-kubernetes-read"]
    binding = one("kubernetes", "ClusterRoleBinding")
    account = one("kubernetes", "ServiceAccount")
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        assert "*" not in rule["resources"] and "secrets" not in rule["resources"], rule
        assert not {"pods/exec", "pods/attach", "pods/portforward"} & set(rule["resources"]), rule
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "warden"}
    ]


def test_impersonation_grants_exactly_the_named_users_and_groups() -> None:
    """The overlay adds `impersonate` on users and groups by name only, for the server's account only."""
    role, binding = documents(IMPERSONATION / "impersonation.yaml")
    assert role["kind"] == "ClusterRole" and binding["kind"] == "ClusterRoleBinding"
    assert {rule["resources"][0] for rule in role["rules"]} == {"users", "groups"}
    for rule in role["rules"]:
        assert rule["verbs"] == ["impersonate"] and rule["apiGroups"] == [""] and len(rule["resources"]) == 1
        names = rule["resourceNames"]
        assert names and all("*" not in name and not name.startswith("system:") for name in names), rule
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "warden-kubernetes", "namespace": "warden"}]
    overlay = yaml.safe_load((IMPERSONATION / "kustomization.yaml").read_text())
    assert overlay["resources"] == ["../..", "impersonation.yaml"]
    env = {op["value"]["name"]: op["value"]["value"] for op in yaml.safe_load(overlay["patches"][0]["patch"])}
    assert env["WARDEN_KUBERNETES_IMPERSONATE"] == "true"
    groups = {rule["resources"][0]: rule["resourceNames"] for rule in role["rules"]}["groups"]
    assert set(env["WARDEN_KUBERNETES_IMPERSONATE_GROUPS"].split(",")) == set(groups)
    # The base deployment does not impersonate, and its account has no such right.
    roles = objects("kubernetes")["ClusterRole"]
    assert not any("impersonate" in rule["verbs"] for role in roles for rule in role["rules"])


def test_off_by_default_groups_get_exactly_their_grant_and_no_binding() -> None:
    """The helm group lists Secrets (RBAC cannot narrow that by label) and the access group creates access
    reviews (which store nothing), so their roles are shipped unbound: the operator binds them per namespace.
    Nothing else may reach Secrets or create anything."""
    roles = {role["metadata"]["name"]: role for role in objects("kubernetes")["ClusterRole"]}
    assert roles["warden-kubernetes-helm"]["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}
    ]
    assert roles["warden-kubernetes-access"]["rules"] == [
        {"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]},
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings", "clusterrolebindings"],
            "verbs": ["list"],
        },
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "clusterroles"], "verbs": ["get"]},
    ]
    assert set(roles) == {"warden-kubernetes-read", "warden-kubernetes-helm", "warden-kubernetes-access"}
    bound = {
        binding["roleRef"]["name"]
        for kind in ("ClusterRoleBinding", "RoleBinding")
        for binding in objects("kubernetes").get(kind, [])
    }
    assert bound == {"warden-kubernetes-read"}

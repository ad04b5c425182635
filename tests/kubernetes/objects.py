"""Builders for complete, realistic Kubernetes objects (the client's models are strict: no half objects).

Timestamps are relative to now so ages read naturally ("5m", "3d").
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

_rv = itertools.count(1000)


def ts(ago: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata(
    name: str,
    namespace: str | None = None,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    age: timedelta = timedelta(days=3),
    owner: tuple[str, str] | None = None,
    generation: int | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": str(uuid.uuid4()),
        "resourceVersion": str(next(_rv)),
        "creationTimestamp": ts(age),
        "labels": labels or {},
        "managedFields": [
            {
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "v1",
                "time": ts(age),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {}}},
            }
        ],
    }
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    if generation is not None:
        meta["generation"] = generation
    if owner is not None:
        kind, owner_name = owner
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": kind,
                "name": owner_name,
                "uid": str(uuid.uuid4()),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return meta


def container_spec(name: str = "app", image: str = "registry.example.com/app:1.4.2", **extra: Any) -> dict[str, Any]:
    spec = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    spec.update(extra)
    return spec


def running_status(name: str = "app", image: str = "registry.example.com/app:1.4.2", restarts: int = 0) -> dict:
    return {
        "name": name,
        "image": image,
        "imageID": f"{image}@sha256:" + "ab" * 32,
        "containerID": "containerd://" + "cd" * 32,
        "ready": True,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ts(timedelta(hours=2))}},
        "lastState": {},
    }


def crashing_status(name: str = "app", image: str = "registry.example.com/app:1.4.2", restarts: int = 7) -> dict:
    return {
        "name": name,
        "image": image,
        "imageID": f"{image}@sha256:" + "ab" * 32,
        "containerID": "containerd://" + "ef" * 32,
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 5m0s restarting failed container=app pod=web",
            }
        },
        "lastState": {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": ts(timedelta(minutes=6)),
                "finishedAt": ts(timedelta(minutes=5)),
                "containerID": "containerd://" + "ef" * 32,
            }
        },
    }


def pod(
    name: str,
    namespace: str = "default",
    *,
    labels: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    node: str = "node-1",
    owner: tuple[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    age: timedelta = timedelta(hours=2),
) -> dict[str, Any]:
    containers = containers or [container_spec()]
    if statuses is None:
        statuses = [running_status(c["name"], c["image"]) for c in containers] if phase == "Running" else []
    ready = all(s.get("ready") for s in statuses) and bool(statuses)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(name, namespace, labels=labels, owner=owner, annotations=annotations, age=age),
        "spec": {
            "containers": containers,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": node if phase != "Pending" else None,
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            ],
        },
        "status": {
            "phase": phase,
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "True" if phase != "Pending" else "False",
                    "lastTransitionTime": ts(age),
                },
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts(age)},
            ],
            "hostIP": "10.0.0.11",
            "podIP": "10.244.1.23",
            "startTime": ts(age),
            "qosClass": "Burstable",
            "containerStatuses": statuses,
        },
    }


def deployment(
    name: str,
    namespace: str = "default",
    *,
    replicas: int = 3,
    ready: int | None = None,
    updated: int | None = None,
    available: int | None = None,
    generation: int = 4,
    observed: int | None = None,
    progressing_reason: str = "NewReplicaSetAvailable",
    containers: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    ready = replicas if ready is None else ready
    updated = replicas if updated is None else updated
    available = ready if available is None else available
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, namespace, labels=labels, generation=generation, annotations=annotations),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": containers or [container_spec()], "restartPolicy": "Always"},
            },
        },
        "status": {
            "observedGeneration": generation if observed is None else observed,
            "replicas": max(replicas, updated),
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available >= replicas else "False",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                    "lastUpdateTime": ts(timedelta(hours=1)),
                    "lastTransitionTime": ts(timedelta(hours=1)),
                },
                {
                    "type": "Progressing",
                    "status": "False" if progressing_reason == "ProgressDeadlineExceeded" else "True",
                    "reason": progressing_reason,
                    "message": f'ReplicaSet "{name}-7d4b9c" has successfully progressed.',
                    "lastUpdateTime": ts(timedelta(minutes=10)),
                    "lastTransitionTime": ts(timedelta(minutes=10)),
                },
            ],
        },
    }


def statefulset(name: str, namespace: str = "default", *, replicas: int = 3, ready: int | None = None) -> dict:
    ready = replicas if ready is None else ready
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(name, namespace, labels=labels, generation=2),
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "podManagementPolicy": "OrderedReady",
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container_spec("db", "postgres:16")]}},
        },
        "status": {
            "observedGeneration": 2,
            "replicas": replicas,
            "readyReplicas": ready,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "currentRevision": f"{name}-5f8c7",
            "updateRevision": f"{name}-5f8c7",
            "collisionCount": 0,
            "availableReplicas": ready,
        },
    }


def daemonset(name: str, namespace: str = "kube-system", *, desired: int = 3, updated: int | None = None) -> dict:
    updated = desired if updated is None else updated
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(name, namespace, labels=labels, generation=1),
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container_spec("agent", "agent:2.1")]},
            },
        },
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberReady": desired,
            "numberAvailable": desired,
            "numberMisscheduled": 0,
        },
    }


def node(name: str, *, ready: bool = True, pressure: str | None = None, role: str = "worker") -> dict[str, Any]:
    conditions = [
        {
            "type": kind,
            "status": "True" if kind == pressure else "False",
            "reason": f"Kubelet{'Has' if kind == pressure else 'HasNo'}{kind}",
            "message": f"kubelet has {'' if kind == pressure else 'no '}{kind}",
            "lastHeartbeatTime": ts(),
            "lastTransitionTime": ts(timedelta(days=2)),
        }
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if ready else "Unknown",
            "reason": "KubeletReady" if ready else "NodeStatusUnknown",
            "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
            "lastHeartbeatTime": ts(),
            "lastTransitionTime": ts(timedelta(days=2)),
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata(
            name,
            labels={"kubernetes.io/hostname": name, f"node-role.kubernetes.io/{role}": "", "kubernetes.io/os": "linux"},
            age=timedelta(days=40),
        ),
        "spec": {"podCIDR": "10.244.1.0/24", "providerID": f"fake://{name}"},
        "status": {
            "capacity": {"cpu": "4", "memory": "16302084Ki", "pods": "110", "ephemeral-storage": "102350Mi"},
            "allocatable": {"cpu": "3800m", "memory": "15150084Ki", "pods": "110", "ephemeral-storage": "94327Mi"},
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "machineID": "m" * 32,
                "systemUUID": str(uuid.uuid4()),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": "6.1.0-18-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.13",
                "kubeletVersion": "v1.31.4",
                "kubeProxyVersion": "v1.31.4",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [{"names": ["registry.example.com/app:1.4.2"], "sizeBytes": 52428800}],
        },
    }


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata(name, labels={"kubernetes.io/metadata.name": name}, age=timedelta(days=30)),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def event(
    name: str,
    namespace: str,
    *,
    involved: tuple[str, str],
    reason: str,
    message: str,
    type_: str = "Normal",
    ago: timedelta = timedelta(minutes=5),
    count: int = 1,
) -> dict[str, Any]:
    kind, obj_name = involved
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata(name, namespace, age=ago),
        "involvedObject": {
            "kind": kind,
            "namespace": namespace,
            "name": obj_name,
            "uid": str(uuid.uuid4()),
            "apiVersion": "v1",
            "resourceVersion": "1234",
        },
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ts(ago + timedelta(minutes=count)),
        "lastTimestamp": ts(ago),
        "count": count,
        "type": type_,
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
    }


def configmap(name: str, namespace: str, data: dict[str, str], annotations: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(name, namespace, annotations=annotations),
        "data": data,
    }


def secret(
    name: str, namespace: str, data: dict[str, str], *, type_: str = "Opaque", string_data_applied: bool = True
) -> dict[str, Any]:
    """A Secret as the API returns it: values base64-encoded, and (like `kubectl apply` leaves it) a
    last-applied-configuration annotation holding the plain-text stringData."""
    annotations = {}
    if string_data_applied:
        applied = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": data,
            "type": type_,
        }
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(applied) + "\n"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(name, namespace, annotations=annotations),
        "type": type_,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def service(name: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace, labels={"app": name}),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.12.34",
            "clusterIPs": ["10.96.12.34"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            "selector": {"app": name},
            "sessionAffinity": "None",
        },
        "status": {"loadBalancer": {}},
    }


def certificate(name: str, namespace: str, *, ready: bool = True) -> dict[str, Any]:
    """A cert-manager Certificate: a CRD object the server only finds through discovery."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": metadata(name, namespace, generation=1),
        "spec": {
            "secretName": f"{name}-tls",
            "dnsNames": [f"{name}.example.com"],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "Ready" if ready else "DoesNotExist",
                    "message": "Certificate is up to date and has not expired" if ready else "Issuing certificate",
                    "lastTransitionTime": ts(timedelta(days=1)),
                    "observedGeneration": 1,
                }
            ],
            "notAfter": ts(timedelta(days=-60)),
        },
    }


def pod_metrics(
    name: str, namespace: str, containers: dict[str, tuple[str, str]], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """metrics-server's PodMetrics (the pod's labels, and per container (cpu, memory) in the units it reports,
    such as `1234567n` and `45678Ki`)."""
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "PodMetrics",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": ts(), "labels": labels or {}},
        "timestamp": ts(timedelta(seconds=12)),
        "window": "15.012s",
        "containers": [
            {"name": container, "usage": {"cpu": cpu, "memory": memory}}
            for container, (cpu, memory) in containers.items()
        ],
    }


def node_metrics(name: str, cpu: str, memory: str) -> dict[str, Any]:
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "NodeMetrics",
        "metadata": {"name": name, "creationTimestamp": ts(), "labels": {"kubernetes.io/hostname": name}},
        "timestamp": ts(timedelta(seconds=9)),
        "window": "20.047s",
        "usage": {"cpu": cpu, "memory": memory},
    }


# --- Helm 3 release records ------------------------------------------------------------------------------
def helm_payload(record: dict[str, Any]) -> str:
    """What Helm 3 stores in a release Secret's `release` key: base64(gzip(JSON)), best compression."""
    return base64.b64encode(gzip.compress(json.dumps(record).encode(), compresslevel=9, mtime=0)).decode()


def helm_secret(name: str, namespace: str, revision: int, status: str, payload: str | bytes) -> dict[str, Any]:
    """The Secret Helm 3 writes for one release revision, as the API returns it (the data base64-encoded
    once more by the Secret's own encoding)."""
    age = timedelta(days=10 - min(revision, 9))
    meta = metadata(f"sh.helm.release.v1.{name}.v{revision}", namespace, age=age)
    modified = str(int((datetime.now(UTC) - age).timestamp()))
    meta["labels"] = {"name": name, "owner": "helm", "status": status, "version": str(revision), "modifiedAt": modified}
    raw = payload.encode() if isinstance(payload, str) else payload
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "helm.sh/release.v1",
        "data": {"release": base64.b64encode(raw).decode()},
    }


def helm_release(
    name: str,
    namespace: str,
    revision: int = 1,
    *,
    status: str = "deployed",
    chart: str = "shop",
    chart_version: str = "1.4.0",
    app_version: str = "2.3.1",
    values: dict[str, Any] | None = None,
    chart_values: dict[str, Any] | None = None,
    manifest: str = "",
    notes: str = "",
    description: str | None = None,
    hooks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A release revision as Helm 3 records it (the `release.Release` JSON: info, chart with its templates,
    files and default values, user-supplied `config`, rendered manifest, hooks), in its Secret."""
    deployed = ts(timedelta(days=10 - min(revision, 9))).replace("Z", ".123456789Z")
    record = {
        "name": name,
        "info": {
            "first_deployed": ts(timedelta(days=10)).replace("Z", ".987654321Z"),
            "last_deployed": deployed,
            "deleted": "",
            "description": description or ("Install complete" if revision == 1 else "Upgrade complete"),
            "status": status,
            "notes": notes,
        },
        "chart": {
            "metadata": {
                "name": chart,
                "version": chart_version,
                "description": f"The {chart} application",
                "apiVersion": "v2",
                "appVersion": app_version,
                "type": "application",
            },
            "lock": None,
            "templates": [
                {"name": "templates/deployment.yaml", "data": base64.b64encode(b"kind: Deployment\n").decode()},
                {"name": "templates/secret.yaml", "data": base64.b64encode(b"kind: Secret\n").decode()},
            ],
            "values": chart_values or {"replicaCount": 1, "image": {"repository": chart, "tag": app_version}},
            "schema": None,
            "files": [{"name": "README.md", "data": base64.b64encode(f"# {chart}\n".encode()).decode()}],
        },
        "config": values or {},
        "manifest": manifest,
        "hooks": hooks or [],
        "version": revision,
        "namespace": namespace,
    }
    return helm_secret(name, namespace, revision, status, helm_payload(record))


# --- RBAC -------------------------------------------------------------------------------------------------
def rule(verbs: str, resources: str, groups: str = "", names: str = "") -> dict[str, Any]:
    """A PolicyRule from comma-separated lists (`groups` "" is the core group)."""
    found: dict[str, Any] = {
        "verbs": verbs.split(","),
        "apiGroups": groups.split(","),
        "resources": resources.split(","),
    }
    if names:
        found["resourceNames"] = names.split(",")
    return found


def role(name: str, namespace: str | None, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A Role (or, without a namespace, a ClusterRole)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role" if namespace else "ClusterRole",
        "metadata": metadata(name, namespace, age=timedelta(days=30)),
        "rules": rules,
    }


def binding(name: str, namespace: str | None, role_ref: str, *subjects: str) -> dict[str, Any]:
    """A RoleBinding (or, without a namespace, a ClusterRoleBinding). `role_ref` is `Role/x` or
    `ClusterRole/x`; each subject is `User/alice`, `Group/oncall` or `ServiceAccount/<namespace>/<name>`."""
    entries = []
    for subject in subjects:
        kind, _, rest = subject.partition("/")
        if kind == "ServiceAccount":
            account_namespace, _, account = rest.partition("/")
            entries.append({"kind": kind, "name": account, "namespace": account_namespace})
        else:
            entries.append({"kind": kind, "apiGroup": "rbac.authorization.k8s.io", "name": rest})
    ref_kind, _, ref_name = role_ref.partition("/")
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": metadata(name, namespace, age=timedelta(days=30)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref_name},
        "subjects": entries,
    }

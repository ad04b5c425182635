"""Resource types: what a `kind` argument names, and the paths of its objects.

Common built-in kinds resolve from a static table, so most calls need no discovery round trip and
the kinds denylist is applied before any request. Anything else (CRDs, aggregated APIs) is found
through API discovery by the client and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from warden_core import Allowlist, PolicyDenied

READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = READ_VERBS
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {self.plural, self.kind.lower(), self.singular or self.kind.lower(), *self.short_names}
        object.__setattr__(self, "_names", frozenset(name.lower() for name in names))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`deployments.apps`, or `pods` for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def answers_to(self, name: str) -> bool:
        return name.lower() in self._names

    def readable(self) -> bool:
        return "get" in self.verbs and "list" in self.verbs

    # --- Paths. ------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.base}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{self.base}/{self.plural}"

    def item(self, name: str, namespace: str | None) -> str:
        return f"{self.collection(namespace)}/{quote(name, safe='')}"


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool, *short: str) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, short_names=short)


_ADMISSION = "admissionregistration.k8s.io"
BUILTINS: tuple[ResourceType, ...] = (
    _rt("", "v1", "pods", "Pod", True, "po"),
    _rt("", "v1", "services", "Service", True, "svc"),
    _rt("", "v1", "configmaps", "ConfigMap", True, "cm"),
    _rt("", "v1", "secrets", "Secret", True),
    _rt("", "v1", "namespaces", "Namespace", False, "ns"),
    _rt("", "v1", "nodes", "Node", False, "no"),
    _rt("", "v1", "events", "Event", True, "ev"),
    _rt("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, "pvc"),
    _rt("", "v1", "persistentvolumes", "PersistentVolume", False, "pv"),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", True, "sa"),
    _rt("", "v1", "endpoints", "Endpoints", True, "ep"),
    _rt("", "v1", "replicationcontrollers", "ReplicationController", True, "rc"),
    _rt("", "v1", "resourcequotas", "ResourceQuota", True, "quota"),
    _rt("", "v1", "limitranges", "LimitRange", True, "limits"),
    _rt("apps", "v1", "deployments", "Deployment", True, "deploy"),
    _rt("apps", "v1", "statefulsets", "StatefulSet", True, "sts"),
    _rt("apps", "v1", "daemonsets", "DaemonSet", True, "ds"),
    _rt("apps", "v1", "replicasets", "ReplicaSet", True, "rs"),
    _rt("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    _rt("batch", "v1", "jobs", "Job", True),
    _rt("batch", "v1", "cronjobs", "CronJob", True, "cj"),
    _rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, "hpa"),
    _rt("networking.k8s.io", "v1", "ingresses", "Ingress", True, "ing"),
    _rt("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, "netpol"),
    _rt("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    _rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, "pdb"),
    _rt("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    _rt("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _rt("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, "sc"),
    _rt("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False),
    _rt("storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", False),
    _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, "crd", "crds"),
    _rt("coordination.k8s.io", "v1", "leases", "Lease", True),
    _rt("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, "pc"),
    _rt(
        "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False
    ),
    _rt("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False),
)
BUILTIN_GROUPS = frozenset(rt.group for rt in BUILTINS)

POD = BUILTINS[0]
NAMESPACE = BUILTINS[4]
NODE = BUILTINS[5]
EVENT = BUILTINS[6]
SECRET = BUILTINS[3]
WORKLOADS = {rt.kind.lower(): rt for rt in BUILTINS if rt.kind in {"Deployment", "StatefulSet", "DaemonSet"}}
RBAC = {rt.kind: rt for rt in BUILTINS if rt.group == "rbac.authorization.k8s.io"}
# The metrics API (metrics-server). Not in BUILTINS, where `pods` and `nodes` name the core kinds; a `kind`
# argument reaches these by discovery (`pods.metrics.k8s.io`).
POD_METRICS = ResourceType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, verbs=("get", "list"))
NODE_METRICS = ResourceType("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, verbs=("get", "list"))

KIND_PATTERN = r"^[A-Za-z][A-Za-z0-9.-]{0,252}$"
_KIND = re.compile(KIND_PATTERN)


def split_kind(kind: str) -> tuple[str, str | None]:
    """`deployments.apps` -> (`deployments`, `apps`); `Pod` -> (`pod`, None)."""
    name, _, group = kind.partition(".")
    return name.lower(), (group.lower() or None)


def builtin(kind: str) -> ResourceType | None:
    """The built-in type `kind` names (Kind, plural, singular, short name, optionally `.group`), if any."""
    name, group = split_kind(kind)
    for rt in BUILTINS:
        if rt.answers_to(name) and (group is None or group == rt.group or (group == "core" and rt.group == "")):
            return rt
    return None


def match(candidates: list[ResourceType], kind: str) -> ResourceType | None:
    """Pick the type `kind` names among discovered ones (preferring fewer dots in the group, like kubectl)."""
    name, group = split_kind(kind)
    found = [rt for rt in candidates if rt.answers_to(name) and (group is None or group == rt.group.lower())]
    found.sort(key=lambda rt: (rt.group.count("."), rt.group))
    return found[0] if found else None


class KindFilter:
    """The kinds denylist: a kind is refused when any of its names matches an entry."""

    def __init__(self, setting: str, patterns: tuple[str, ...]) -> None:
        self.matcher = Allowlist(setting, tuple(p.lower() for p in patterns), case_sensitive=False)

    def check_name(self, kind: str) -> None:
        """Check the kind as the caller spelled it (before anything is resolved or requested)."""
        if self.matcher.configured and self.matcher.allows(kind.lower()):
            raise PolicyDenied(f"kind {kind!r} is denied by this server's policy ({self.matcher.setting})")

    def check(self, rt: ResourceType) -> None:
        if not self.matcher.configured:
            return
        names = {rt.kind.lower(), rt.plural, rt.singular or rt.kind.lower(), rt.qualified}
        if rt.group:
            names.add(f"{rt.kind.lower()}.{rt.group}")
        if any(self.matcher.allows(name) for name in names):
            raise PolicyDenied(
                f"kind {rt.kind} ({rt.qualified}) is denied by this server's policy ({self.matcher.setting})"
            )

    def allows(self, rt: ResourceType) -> bool:
        try:
            self.check(rt)
        except PolicyDenied:
            return False
        return True


def valid_kind(kind: str) -> bool:
    return bool(_KIND.match(kind))

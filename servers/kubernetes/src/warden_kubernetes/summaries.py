"""Compact views of (already masked) Kubernetes objects: listing rows, digests, rollout and node health.

The logic follows what `kubectl get`, `describe` and `rollout status` print, so the words an
on-call engineer expects (CrashLoopBackOff, 2/3 ready, ProgressDeadlineExceeded) come back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from warden_core.text import strip_invisible
from warden_kubernetes.masking import LAST_APPLIED, Masker
from warden_kubernetes.models import Container, Item

_MAX_TEXT = 400
_MAX_IMAGES = 3
_MAX_KEYS = 12
BAD_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
        "ContainerCannotRun",
    }
)


# --- Small helpers. -----------------------------------------------------------------------------
def _d(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any, limit: int = _MAX_TEXT) -> str:
    text = strip_invisible(str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _i(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def age(value: Any, now: datetime | None = None) -> str | None:
    """`45s`, `12m`, `5h`, `3d`, `2y`, like kubectl's AGE column."""
    then = parse_time(value)
    if then is None:
        return None
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    return f"{days}d" if days < 730 else f"{days // 365}y"


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _d(obj.get("metadata"))


def images(pod_spec: Mapping[str, Any]) -> str:
    names = [str(c.get("image", "")) for c in _l(pod_spec.get("containers")) if isinstance(c, Mapping)]
    shown = ",".join(names[:_MAX_IMAGES])
    return shown + (f",+{len(names) - _MAX_IMAGES}" if len(names) > _MAX_IMAGES else "")


def _keys(data: Any) -> str:
    keys = sorted(str(k) for k in _d(data))
    shown = ",".join(keys[:_MAX_KEYS])
    return shown + (f",+{len(keys) - _MAX_KEYS}" if len(keys) > _MAX_KEYS else "")


@dataclass(frozen=True)
class Event:
    type: str | None = None
    reason: str | None = None
    object: str | None = None
    namespace: str | None = None
    message: str | None = None
    count: int | None = None
    last_seen: str | None = None

    def line(self, where: bool = False) -> str:
        """`Warning BackOff (x42, 1m ago): Back-off restarting failed container`, like kubectl describe;
        `where` adds the object and its namespace after the reason (`... BackOff Pod/api-1 in shop (...)`)."""
        head = " ".join(part for part in (self.type, self.reason) if part) or "Event"
        if where and self.object:
            head += f" {self.object}" + (f" in {self.namespace}" if self.namespace else "")
        seen = [
            f"x{self.count}" if self.count and self.count > 1 else "",
            f"{self.last_seen} ago" if self.last_seen else "",
        ]
        when = ", ".join(part for part in seen if part)
        return head + (f" ({when})" if when else "") + (f": {self.message}" if self.message else "")


@dataclass(frozen=True)
class Node:
    name: str
    ready: str
    roles: list[str]
    age: str | None
    version: str | None
    unschedulable: bool
    taints: list[str]
    capacity: dict[str, str]
    allocatable: dict[str, str]
    problems: list[str]
    info: dict[str, str]


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    age: str | None = None

    def __str__(self) -> str:
        """`Ready=False (ContainersNotReady): containers with unready status: [web], 5m ago`."""
        text = f"{self.type}={self.status}"
        text += f" ({self.reason})" if self.reason else ""
        text += f": {self.message}" if self.message else ""
        return text + (f", {self.age} ago" if self.age else "")


def conditions(obj: Mapping[str, Any], only_problems: bool = False) -> list[Condition]:
    found = []
    for item in _l(_d(obj.get("status")).get("conditions")):
        if not isinstance(item, Mapping):
            continue
        cond = Condition(
            type=_s(item.get("type", "")),
            status=_s(item.get("status", "")),
            reason=_s(item["reason"]) if item.get("reason") else None,
            message=_s(item["message"]) if item.get("message") else None,
            age=age(item.get("lastTransitionTime") or item.get("lastUpdateTime")),
        )
        if not only_problems or _is_problem(cond):
            found.append(cond)
    return found


_POSITIVE = {"Ready", "Available", "Progressing", "Established", "NamesAccepted", "Initialized", "PodScheduled"}
_POSITIVE |= {"ContainersReady", "Complete", "Synced", "Healthy", "Succeeded", "Reconciled"}


def _is_problem(cond: Condition) -> bool:
    if cond.type in _POSITIVE:
        return cond.status != "True"
    return cond.status == "True" and cond.type not in {"Complete"}


# --- Pods. ----------------------------------------------------------------------------------------
def pod_status(pod: Mapping[str, Any]) -> str:
    """The STATUS column of `kubectl get pods`."""
    status = _d(pod.get("status"))
    spec = _d(pod.get("spec"))
    reason = str(status.get("reason") or status.get("phase") or "Unknown")
    initializing = False
    init_specs = _l(spec.get("initContainers"))
    for index, cs in enumerate(_l(status.get("initContainerStatuses"))):
        state = _d(_d(cs).get("state"))
        terminated, waiting = _d(state.get("terminated")), _d(state.get("waiting"))
        if terminated and _i(terminated.get("exitCode")) == 0:
            continue
        initializing = True
        if terminated:
            reason = "Init:" + str(terminated.get("reason") or f"ExitCode:{_i(terminated.get('exitCode'))}")
        elif waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        break
    if not initializing:
        running = False
        for item in reversed(_l(status.get("containerStatuses"))):
            cs = _d(item)
            state = _d(cs.get("state"))
            terminated, waiting = _d(state.get("terminated")), _d(state.get("waiting"))
            if waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated.get("reason"):
                reason = str(terminated["reason"])
            elif terminated:
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{_i(terminated.get('exitCode'))}"
            elif cs.get("ready") and state.get("running") is not None:
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return _s(reason, 80)


def pod_ready(pod: Mapping[str, Any]) -> tuple[int, int]:
    statuses = _l(_d(pod.get("status")).get("containerStatuses"))
    total = len(_l(_d(pod.get("spec")).get("containers"))) or len(statuses)
    return sum(1 for cs in statuses if _d(cs).get("ready")), total


def pod_restarts(pod: Mapping[str, Any]) -> int:
    return sum(_i(_d(cs).get("restartCount")) for cs in _l(_d(pod.get("status")).get("containerStatuses")))


def pod_unhealthy(pod: Mapping[str, Any]) -> bool:
    phase = _d(pod.get("status")).get("phase")
    if phase == "Succeeded":
        return False
    if phase in {"Pending", "Failed", "Unknown"}:
        return True
    reason = pod_status(pod)
    if reason in BAD_WAITING or reason.startswith("Init:") or reason in {"Error", "OOMKilled", "Unknown"}:
        return True
    ready, total = pod_ready(pod)
    return ready < total


def _state(state: Mapping[str, Any]) -> str | None:
    if state.get("running") is not None:
        started = age(_d(state["running"]).get("startedAt"))
        return f"running{f' for {started}' if started else ''}"
    if state.get("waiting") is not None:
        waiting = _d(state["waiting"])
        text = f"waiting: {waiting.get('reason') or 'unknown'}"
        return _s(text + (f" ({waiting['message']})" if waiting.get("message") else ""))
    if state.get("terminated") is not None:
        term = _d(state["terminated"])
        text = f"terminated: {term.get('reason') or 'unknown'} (exit {_i(term.get('exitCode'))})"
        finished = age(term.get("finishedAt"))
        text += f" {finished} ago" if finished else ""
        return _s(text + (f": {term['message']}" if term.get("message") else ""))
    return None


def containers(pod: Mapping[str, Any]) -> list[Container]:
    spec, status = _d(pod.get("spec")), _d(pod.get("status"))
    found: list[Container] = []
    for init, spec_key, status_key in (
        (True, "initContainers", "initContainerStatuses"),
        (False, "containers", "containerStatuses"),
    ):
        statuses = {str(_d(cs).get("name")): _d(cs) for cs in _l(status.get(status_key))}
        for item in _l(spec.get(spec_key)):
            c = _d(item)
            cs = statuses.get(str(c.get("name")), {})
            found.append(
                Container(
                    name=_s(c.get("name", "")),
                    image=_s(c.get("image", "")) or None,
                    init=init,
                    ready=cs.get("ready") if cs else None,
                    restarts=_i(cs.get("restartCount")) if cs else None,
                    state=_state(_d(cs.get("state"))) if cs else None,
                    last_state=_state(_d(cs.get("lastState"))) if cs else None,
                )
            )
    return found


def template_containers(obj: Mapping[str, Any]) -> list[Container]:
    spec = _pod_template_spec(obj)
    return [
        Container(name=_s(_d(c).get("name", "")), image=_s(_d(c).get("image", "")) or None, init=init)
        for init, key in ((True, "initContainers"), (False, "containers"))
        for c in _l(spec.get(key))
    ]


def _pod_template_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = _d(obj.get("spec"))
    if obj.get("kind") == "CronJob":
        spec = _d(_d(spec.get("jobTemplate")).get("spec"))
    return _d(_d(spec.get("template")).get("spec"))


# --- Rows. ------------------------------------------------------------------------------------------
def row(obj: Mapping[str, Any]) -> Item:
    m = meta(obj)
    kind = obj.get("kind")
    status, info = _status_info(obj, str(kind))
    return Item(
        name=_s(m.get("name", ""), 253),
        namespace=str(m["namespace"]) if m.get("namespace") else None,
        age=age(m.get("creationTimestamp")),
        status=status,
        info={k: _s(v) for k, v in info.items() if v not in (None, "")},
    )


def masked_row(obj: Mapping[str, Any], masker: Masker) -> Item:
    """`row(obj)` with every string passed through the masker."""
    found = row(obj)
    return Item(
        name=masker.text(found.name),
        namespace=found.namespace,
        age=found.age,
        status=masker.text(found.status) if found.status else None,
        info={k: masker.text(v) for k, v in found.info.items()},
    )


def _replicas(obj: Mapping[str, Any]) -> tuple[int, Mapping[str, Any]]:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    return _i(spec.get("replicas"), 1), status


def _status_info(obj: Mapping[str, Any], kind: str) -> tuple[str | None, dict[str, Any]]:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    if kind == "Pod":
        ready, total = pod_ready(obj)
        info = {"ready": f"{ready}/{total}", "restarts": str(pod_restarts(obj)), "node": spec.get("nodeName")}
        return pod_status(obj), info
    if kind in {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}:
        desired, st = _replicas(obj)
        info = {"images": images(_pod_template_spec(obj))}
        if kind == "Deployment":
            info |= {
                "up_to_date": str(_i(st.get("updatedReplicas"))),
                "available": str(_i(st.get("availableReplicas"))),
            }
        return f"{_i(st.get('readyReplicas'))}/{desired} ready", info
    if kind == "DaemonSet":
        desired = _i(status.get("desiredNumberScheduled"))
        info = {
            "up_to_date": str(_i(status.get("updatedNumberScheduled"))),
            "available": str(_i(status.get("numberAvailable"))),
            "images": images(_pod_template_spec(obj)),
        }
        return f"{_i(status.get('numberReady'))}/{desired} ready", info
    if kind == "Job":
        state = "Running"
        for cond in conditions(obj):
            if cond.status == "True" and cond.type in {"Complete", "Failed", "Suspended"}:
                state = cond.type
        return state, {"completions": f"{_i(status.get('succeeded'))}/{_i(spec.get('completions'), 1)}"}
    if kind == "CronJob":
        state = "Suspended" if spec.get("suspend") else f"{len(_l(status.get('active')))} active"
        return state, {"schedule": spec.get("schedule"), "last_schedule": age(status.get("lastScheduleTime"))}
    if kind == "Service":
        ports = ",".join(
            f"{_d(p).get('port')}/{_d(p).get('protocol', 'TCP')}" for p in _l(spec.get("ports"))[:_MAX_KEYS]
        )
        ingress = _l(_d(status.get("loadBalancer")).get("ingress"))
        external = ",".join(str(_d(i).get("ip") or _d(i).get("hostname") or "") for i in ingress)
        return str(spec.get("type", "ClusterIP")), {
            "cluster_ip": spec.get("clusterIP"),
            "ports": ports,
            "external": external,
        }
    if kind == "Ingress":
        hosts = ",".join(str(_d(r).get("host") or "*") for r in _l(spec.get("rules"))[:_MAX_KEYS])
        lb = _l(_d(status.get("loadBalancer")).get("ingress"))
        address = ",".join(str(_d(i).get("ip") or _d(i).get("hostname") or "") for i in lb)
        return None, {"class": spec.get("ingressClassName"), "hosts": hosts, "address": address}
    if kind == "ConfigMap":
        return f"{len(_d(obj.get('data'))) + len(_d(obj.get('binaryData')))} keys", {"keys": _keys(obj.get("data"))}
    if kind == "Secret":
        return str(obj.get("type", "Opaque")), {"keys": _keys(obj.get("data"))}
    if kind == "PersistentVolumeClaim":
        return str(status.get("phase", "")), {
            "volume": spec.get("volumeName"),
            "capacity": _d(status.get("capacity")).get("storage"),
            "storage_class": spec.get("storageClassName"),
        }
    if kind == "PersistentVolume":
        claim = _d(spec.get("claimRef"))
        return str(status.get("phase", "")), {
            "capacity": _d(spec.get("capacity")).get("storage"),
            "claim": f"{claim.get('namespace')}/{claim.get('name')}" if claim else None,
            "storage_class": spec.get("storageClassName"),
        }
    if kind == "Node":
        node = node_info(obj)
        state = node.ready if node.ready != "True" else "Ready"
        state = "NotReady" if state == "False" else state
        if node.unschedulable:
            state += ",SchedulingDisabled"
        allocatable = " ".join(f"{k}={node.allocatable[k]}" for k in ("cpu", "memory", "pods") if k in node.allocatable)
        return state, {
            "roles": ",".join(node.roles),
            "version": node.version,
            "allocatable": allocatable,
            "taints": ",".join(node.taints),
            "problems": "; ".join(node.problems),
        }
    if kind == "Namespace":
        return str(status.get("phase", "")), {}
    if kind == "Event":
        event = event_row(obj)
        return event.type, {"reason": event.reason, "object": event.object, "message": event.message}
    if kind == "HorizontalPodAutoscaler":
        ref = _d(spec.get("scaleTargetRef"))
        return f"{_i(status.get('currentReplicas'))} replicas", {
            "target": f"{ref.get('kind')}/{ref.get('name')}",
            "min": str(_i(spec.get("minReplicas"), 1)),
            "max": str(_i(spec.get("maxReplicas"))),
        }
    return _generic_status(obj), {}


def _generic_status(obj: Mapping[str, Any]) -> str | None:
    status = _d(obj.get("status"))
    for cond in conditions(obj):
        if cond.type in {"Ready", "Available", "Established", "Healthy", "Synced"}:
            return (
                cond.type if cond.status == "True" else f"Not{cond.type}" + (f" ({cond.reason})" if cond.reason else "")
            )
    phase = status.get("phase") or status.get("state")
    return _s(phase, 80) if isinstance(phase, str) else None


# --- Events. ----------------------------------------------------------------------------------------
def event_time(event: Mapping[str, Any]) -> str:
    series = _d(event.get("series"))
    return str(
        series.get("lastObservedTime")
        or event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or meta(event).get("creationTimestamp")
        or ""
    )


def event_row(event: Mapping[str, Any]) -> Event:
    involved = _d(event.get("involvedObject") or event.get("regarding"))
    series = _d(event.get("series"))
    count = event.get("count") if isinstance(event.get("count"), int) else series.get("count")
    return Event(
        type=_s(event["type"]) if event.get("type") else None,
        reason=_s(event["reason"]) if event.get("reason") else None,
        object=f"{involved.get('kind', '')}/{involved.get('name', '')}" if involved else None,
        namespace=str(meta(event).get("namespace")) if meta(event).get("namespace") else None,
        message=_s(str(event.get("message") or event.get("note") or "").strip()) or None,
        count=count if isinstance(count, int) else None,
        last_seen=age(event_time(event)),
    )


def sort_events(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Newest first."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(events, key=lambda e: parse_time(event_time(e)) or epoch, reverse=True)


# --- Digest. ------------------------------------------------------------------------------------------
def digest(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an `ObjectResult` for a summary: what `kubectl describe` leads with."""
    m = meta(obj)
    base = row(obj)
    kind = str(obj.get("kind"))
    info = dict(base.info)
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    if kind == "Pod":
        info |= {
            "ip": str(status.get("podIP") or ""),
            "qos": str(status.get("qosClass") or ""),
            "service_account": str(spec.get("serviceAccountName") or ""),
        }
        if status.get("message"):
            info["message"] = _s(status["message"])
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}:
        selector = _d(_d(spec.get("selector")).get("matchLabels"))
        info["selector"] = ",".join(f"{k}={v}" for k, v in selector.items())
        strategy = _d(spec.get("strategy") or spec.get("updateStrategy")).get("type")
        if strategy:
            info["strategy"] = str(strategy)
        if kind != "DaemonSet":
            desired, st = _replicas(obj)
            info |= {"desired": str(desired), "current": str(_i(st.get("replicas")))}
    elif kind == "Node":
        node = node_info(obj)
        info |= node.info | {f"capacity.{k}": v for k, v in node.capacity.items()}
        info |= {f"allocatable.{k}": v for k, v in node.allocatable.items()}
        if node.taints:
            info["taints"] = ",".join(node.taints)
    annotations = {
        str(k): _s(v, 200) for k, v in _d(m.get("annotations")).items() if k != LAST_APPLIED and isinstance(v, str)
    }
    owners = [f"{_d(o).get('kind')}/{_d(o).get('name')}" for o in _l(m.get("ownerReferences"))]
    result: dict[str, Any] = {
        "kind": kind,
        "api_version": str(obj.get("apiVersion", "")),
        "name": base.name,
        "namespace": base.namespace,
        "age": base.age,
        "status": base.status,
        "info": {k: _s(v) for k, v in info.items() if v not in (None, "")},
        "labels": {str(k): _s(v, 200) for k, v in _d(m.get("labels")).items()},
        "annotations": annotations,
        "owners": owners,
        "conditions": [str(c) for c in conditions(obj)],
    }
    if kind == "Pod":
        result["containers"] = containers(obj)
    elif _pod_template_spec(obj):
        result["containers"] = template_containers(obj)
    return result


# --- Nodes. -------------------------------------------------------------------------------------------
def node_info(node: Mapping[str, Any]) -> Node:
    m, spec, status = meta(node), _d(node.get("spec")), _d(node.get("status"))
    labels = _d(m.get("labels"))
    roles = sorted(
        k.split("/", 1)[1] for k in labels if isinstance(k, str) and k.startswith("node-role.kubernetes.io/")
    )
    if not roles and labels.get("kubernetes.io/role"):
        roles = [str(labels["kubernetes.io/role"])]
    conds = conditions(node)
    ready = next((c.status for c in conds if c.type == "Ready"), "Unknown")
    node_sys = _d(status.get("nodeInfo"))
    addresses = {str(_d(a).get("type")): str(_d(a).get("address")) for a in _l(status.get("addresses"))}
    taints = [
        f"{_d(t).get('key')}{'=' + str(_d(t)['value']) if _d(t).get('value') else ''}:{_d(t).get('effect')}"
        for t in _l(spec.get("taints"))
    ]
    info = {
        "os_image": node_sys.get("osImage"),
        "kernel": node_sys.get("kernelVersion"),
        "runtime": node_sys.get("containerRuntimeVersion"),
        "arch": node_sys.get("architecture"),
        "internal_ip": addresses.get("InternalIP"),
    }
    return Node(
        name=_s(m.get("name", ""), 253),
        ready=str(ready),
        roles=roles,
        age=age(m.get("creationTimestamp")),
        version=str(node_sys["kubeletVersion"]) if node_sys.get("kubeletVersion") else None,
        unschedulable=bool(spec.get("unschedulable")),
        taints=[_s(t, 200) for t in taints],
        capacity={str(k): str(v) for k, v in _d(status.get("capacity")).items()},
        allocatable={str(k): str(v) for k, v in _d(status.get("allocatable")).items()},
        problems=[str(c) for c in conds if _is_problem(c)],
        info={k: _s(v) for k, v in info.items() if v},
    )


# --- Rollouts. ------------------------------------------------------------------------------------------
def rollout(obj: Mapping[str, Any]) -> dict[str, Any]:  # noqa: PLR0915  (one branch per kind, as kubectl)
    """`kubectl rollout status` for a Deployment, StatefulSet or DaemonSet, as RolloutStatus fields."""
    kind = str(obj.get("kind"))
    name = str(meta(obj).get("name"))
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    generation = _i(meta(obj).get("generation"))
    observed = _i(status.get("observedGeneration"))
    out: dict[str, Any] = {
        "conditions": [str(c) for c in conditions(obj)],
        "done": False,
        "failed": False,
    }
    if kind == "DaemonSet":
        desired = _i(status.get("desiredNumberScheduled"))
        updated = _i(status.get("updatedNumberScheduled"))
        available = _i(status.get("numberAvailable"))
        out |= {"desired": desired, "updated": updated, "ready": _i(status.get("numberReady")), "available": available}
    else:
        desired = _i(spec.get("replicas"), 1)
        updated = _i(status.get("updatedReplicas"))
        available = _i(status.get("availableReplicas"))
        ready = _i(status.get("readyReplicas"))
        out |= {"desired": desired, "updated": updated, "ready": ready, "available": available}
    strategy = str(_d(spec.get("strategy") or spec.get("updateStrategy")).get("type") or "RollingUpdate")
    if kind in {"StatefulSet", "DaemonSet"} and strategy != "RollingUpdate":
        out["message"] = f"rollout status is only available for the RollingUpdate strategy (this one is {strategy})"
        return out
    if observed < generation or (kind == "StatefulSet" and observed == 0):
        out["message"] = f"waiting for the {kind} spec update to be observed (generation {observed} of {generation})"
        return out
    if kind == "Deployment":
        progressing = next((c for c in conditions(obj) if c.type == "Progressing"), None)
        if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
            out |= {"failed": True, "message": f"deployment {name!r} exceeded its progress deadline"}
            return out
        replicas = _i(status.get("replicas"))
        if updated < desired:
            message = f"{updated} of {desired} new replicas have been updated"
        elif replicas > updated:
            message = f"{replicas - updated} old replicas are pending termination"
        elif available < updated:
            message = f"{available} of {updated} updated replicas are available"
        else:
            out |= {"done": True, "message": f"deployment {name!r} successfully rolled out"}
            return out
        out["message"] = f"waiting for the rollout to finish: {message}"
        return out
    if kind == "StatefulSet":
        ready = out["ready"]
        if ready < desired:
            out["message"] = f"waiting for {desired - ready} pods to be ready"
            return out
        partition = _i(_d(_d(spec.get("updateStrategy")).get("rollingUpdate")).get("partition"))
        if partition:
            if updated < desired - partition:
                out["message"] = f"waiting for the partitioned rollout: {updated} of {desired - partition} pods updated"
            else:
                out |= {"done": True, "message": f"partitioned rollout complete: {updated} pods updated"}
            return out
        if status.get("updateRevision") != status.get("currentRevision"):
            out["message"] = (
                f"waiting for the rolling update: {updated} pods at revision {status.get('updateRevision')}"
            )
            return out
        out |= {
            "done": True,
            "message": f"rolling update complete: {_i(status.get('currentReplicas'))} pods at revision "
            f"{status.get('currentRevision')}",
        }
        return out
    # DaemonSet
    if updated < desired:
        out["message"] = f"waiting for the rollout to finish: {updated} of {desired} new pods have been updated"
    elif available < desired:
        out["message"] = f"waiting for the rollout to finish: {available} of {desired} updated pods are available"
    else:
        out |= {"done": True, "message": f"daemon set {name!r} successfully rolled out"}
    return out

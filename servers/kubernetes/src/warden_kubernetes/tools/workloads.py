"""Workloads: pod logs and rollout status (reads); scale, rollout restart and delete pod (writes, off by default)."""

from __future__ import annotations

import functools
import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context

from warden_core import Access, InvalidArgument, ToolSpec
from warden_core.confirm import Confirm, Elicit, ElicitationResult, Resolve, ask, require_confirmed
from warden_kubernetes import summaries
from warden_kubernetes.kinds import POD, WORKLOADS, ResourceType
from warden_kubernetes.models import DeleteResult, LogsResult, RestartResult, RolloutStatus, ScaleResult
from warden_kubernetes.tools.common import Deps, KubeContext, Namespace, PodName, WorkloadName, arg

_HEADROOM = 2048
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MERGE_PATCH = "application/merge-patch+json"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

Container = Annotated[
    str | None,
    arg(
        "Container; omit for the pod's default one.",
        pattern=r"^[a-z0-9][-a-z0-9]{0,62}$",
    ),
]
TailLines = Annotated[int, arg("Lines to read from the end.", ge=1, le=5000)]
Since = Annotated[str | None, arg("Only lines newer than this: 30s, 15m, 2h, 1d.", pattern=r"^[1-9][0-9]{0,5}[smhd]$")]
Previous = Annotated[bool, arg("Read the previous (crashed) instance.")]
Grep = Annotated[
    str | None,
    arg("Only lines containing this text (any case); a|b for either.", max_length=200),
]
WorkloadKind = Annotated[Literal["deployment", "statefulset", "daemonset"], arg("Workload kind.")]
ScalableKind = Annotated[Literal["deployment", "statefulset"], arg("Workload kind.")]
WaitSeconds = Annotated[int, arg("Seconds to watch for the rollout to settle (0: no wait).", ge=0, le=50)]
Replicas = Annotated[int, arg("Desired number of replicas.", ge=0, le=1000)]


# The core checks the write allowlists (namespace, context) before these questions are asked, so a user
# is never asked to approve a refused write. Resolvers live at module level: the SDK resolves annotations there.
def ask_scale(*, kind: str, name: str, namespace: str, replicas: int) -> Elicit[Confirm]:
    return ask(f"Scale {kind} {namespace}/{name} to {replicas} replicas?")


def ask_restart(*, kind: str, name: str, namespace: str) -> Elicit[Confirm]:
    return ask(f"Restart every pod of {kind} {namespace}/{name} (rolling restart)?")


def ask_delete_pod(*, name: str, namespace: str) -> Elicit[Confirm]:
    return ask(f"Delete pod {namespace}/{name}?")


Confirmed = ElicitationResult[Confirm]


class _Settle:
    """Watch callback: re-evaluates the rollout on every update; stops the watch once it settles."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def __call__(self, update: dict[str, Any]) -> bool:
        self.state = summaries.rollout(update)
        return bool(self.state["done"] or self.state["failed"])


def _terms(grep: str | None) -> list[str]:
    return [term.lower() for term in (grep or "").split("|") if term]


def specs(deps: Deps) -> list[ToolSpec]:  # noqa: PLR0915  (the handlers are closures)
    client, settings = deps.client, deps.settings

    async def k8s_pod_logs(
        *,
        name: PodName,
        namespace: Namespace,
        container: Container = None,
        tail_lines: TailLines = 200,
        since: Since = None,
        previous: Previous = False,
        grep: Grep = None,
        context: KubeContext = None,
    ) -> LogsResult:
        deps.kinds.check(POD)
        conn = await deps.conn(context)
        deps.target(conn, POD, namespace, name)
        pod = await client.get(conn, POD, name, namespace)
        spec = pod.get("spec") or {}
        names = [
            str(c.get("name"))
            for key in ("containers", "initContainers", "ephemeralContainers")
            for c in spec.get(key) or []
            if isinstance(c, dict)
        ]
        if container is None:
            default = ((pod.get("metadata") or {}).get("annotations") or {}).get(
                "kubectl.kubernetes.io/default-container"
            )
            container = default if default in names else (names[0] if names else None)
        if container is None or container not in names:
            raise InvalidArgument(f"pod {namespace}/{name} has no container {container!r}; it has {names}")
        query = [("container", container), ("tailLines", str(tail_lines))]
        if since:
            query.append(("sinceSeconds", str(int(since[:-1]) * _UNITS[since[-1]])))
        if previous:
            query.append(("previous", "true"))
        terms = _terms(grep)

        def keep(line: str) -> bool:
            lowered = line.lower()
            return not terms or any(term in lowered for term in terms)

        keep_bytes = max(1024, settings.max_output_bytes - _HEADROOM)
        read = await client.run(
            lambda: client.read_log(conn, namespace=namespace, pod=name, query=query, keep_bytes=keep_bytes, keep=keep),
            what=f"the log of {namespace}/{name}",
        )
        notes = []
        if read.dropped:
            notes.append(f"output cap reached: showing the newest {len(read.lines)} of {read.matched} lines")
        if read.read_capped:
            notes.append(f"stopped reading after {read.bytes_read} bytes (log_read_bytes cap)")
        if terms and not read.matched:
            notes.append(f"no line of the {read.lines_read} read matched {grep!r}")
        return LogsResult(
            pod=name,
            namespace=namespace,
            container=container,
            containers=names,
            text="\n".join(read.lines),
            lines=len(read.lines),
            lines_read=read.lines_read,
            truncated=bool(read.dropped or read.read_capped),
            note="; ".join(notes) or None,
        )

    async def k8s_rollout_status(
        *,
        kind: WorkloadKind,
        name: WorkloadName,
        namespace: Namespace,
        ctx: Context,
        wait_seconds: WaitSeconds = 0,
        context: KubeContext = None,
    ) -> RolloutStatus:
        rt = WORKLOADS[kind]
        deps.kinds.check(rt)
        conn = await deps.conn(context)
        deps.target(conn, rt, namespace, name)
        obj = await client.get(conn, rt, name, namespace)
        state = summaries.rollout(obj)
        started = time.monotonic()
        deadline = started + wait_seconds
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
        while not (state["done"] or state["failed"]) and (remaining := deadline - time.monotonic()) > 0:
            await ctx.report_progress(time.monotonic() - started, wait_seconds, state["message"])
            seconds = max(1, min(math.ceil(remaining), int(settings.backend_timeout) - 2))
            watcher = _Settle(state)
            version = await client.run(
                functools.partial(
                    client.watch,
                    conn,
                    rt=rt,
                    namespace=namespace,
                    name=name,
                    resource_version=version,
                    seconds=seconds,
                    on_object=watcher,
                ),
                what=f"{rt.kind} {namespace}/{name}",
                retry=False,
            )
            state = watcher.state
        return RolloutStatus(
            kind=rt.kind,
            name=name,
            namespace=namespace,
            waited_seconds=round(time.monotonic() - started, 1) if wait_seconds else 0.0,
            **state,
        )

    def workload(kind: str) -> ResourceType:
        rt = WORKLOADS[kind]
        deps.kinds.check(rt)
        return rt

    async def k8s_scale(
        *,
        kind: ScalableKind,
        name: WorkloadName,
        namespace: Namespace,
        replicas: Replicas,
        confirmation: Annotated[Confirmed, Resolve(ask_scale)],
        context: KubeContext = None,
    ) -> ScaleResult:
        require_confirmed(confirmation, f"scaling {kind} {namespace}/{name}")
        rt = workload(kind)
        conn = await deps.conn(context)
        deps.target(conn, rt, namespace, name)
        path = f"{rt.item(name, namespace)}/scale"
        what = f"{rt.kind} {namespace}/{name}"
        current = await client.run(lambda: client.get_json(conn, path, what), what=what)
        previous = (current.get("spec") or {}).get("replicas")
        await client.patch(conn, path, {"spec": {"replicas": replicas}}, what, MERGE_PATCH)
        return ScaleResult(
            kind=rt.kind,
            name=name,
            namespace=namespace,
            previous_replicas=previous if isinstance(previous, int) else None,
            replicas=replicas,
        )

    async def k8s_rollout_restart(
        *,
        kind: WorkloadKind,
        name: WorkloadName,
        namespace: Namespace,
        confirmation: Annotated[Confirmed, Resolve(ask_restart)],
        context: KubeContext = None,
    ) -> RestartResult:
        require_confirmed(confirmation, f"restarting {kind} {namespace}/{name}")
        rt = workload(kind)
        conn = await deps.conn(context)
        deps.target(conn, rt, namespace, name)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        await client.patch(conn, rt.item(name, namespace), body, f"{rt.kind} {namespace}/{name}", MERGE_PATCH)
        return RestartResult(kind=rt.kind, name=name, namespace=namespace, restarted_at=now)

    async def k8s_delete_pod(
        *,
        name: PodName,
        namespace: Namespace,
        confirmation: Annotated[Confirmed, Resolve(ask_delete_pod)],
        context: KubeContext = None,
    ) -> DeleteResult:
        require_confirmed(confirmation, f"deleting pod {namespace}/{name}")
        deps.kinds.check(POD)
        conn = await deps.conn(context)
        deps.target(conn, POD, namespace, name)
        pod = await client.get(conn, POD, name, namespace)
        owners = (pod.get("metadata") or {}).get("ownerReferences") or []
        owner = next((f"{o.get('kind')}/{o.get('name')}" for o in owners if o.get("controller")), None)
        await client.delete(conn, POD.item(name, namespace), f"pod {namespace}/{name}")
        return DeleteResult(name=name, namespace=namespace, deleted=True, owner=owner)

    read, destructive = Access.READ, Access.DESTRUCTIVE
    read_args = {"namespace": "namespaces", "context": "contexts"}
    write_args = {"namespace": "write_namespaces", "context": "contexts"}
    return [
        ToolSpec(
            name="k8s_pod_logs",
            title="Pod logs",
            description=(
                "The newest lines of a pod container's log, optionally since a duration, from the previous "
                "(crashed) instance, or only lines matching grep. Capped to the newest lines (truncated says so)."
            ),
            group="workloads",
            access=read,
            handler=k8s_pod_logs,
            resource_args=read_args,
        ),
        ToolSpec(
            name="k8s_rollout_status",
            title="Rollout status",
            description=(
                "Whether a Deployment, StatefulSet or DaemonSet rollout is done, progressing or failed, with "
                "replica counts and conditions; wait_seconds watches until it settles."
            ),
            group="workloads",
            access=read,
            handler=k8s_rollout_status,
            resource_args=read_args,
        ),
        ToolSpec(
            name="k8s_scale",
            title="Scale a workload",
            description=(
                "Set the replica count of a Deployment or StatefulSet, after the user confirms. Scaling down "
                "terminates pods. Returns the previous and new replica counts."
            ),
            group="workloads",
            access=destructive,
            handler=k8s_scale,
            idempotent=True,
            resource_args=write_args,
        ),
        ToolSpec(
            name="k8s_rollout_restart",
            title="Restart a workload",
            description=(
                "Rolling restart of a Deployment, StatefulSet or DaemonSet (like kubectl rollout restart), after "
                "the user confirms: every pod is replaced. Follow it with k8s_rollout_status."
            ),
            group="workloads",
            access=destructive,
            handler=k8s_rollout_restart,
            resource_args=write_args,
        ),
        ToolSpec(
            name="k8s_delete_pod",
            title="Delete a pod",
            description=(
                "Delete one pod, after the user confirms (its controller, if any, creates a replacement). "
                "Returns the owning controller so you know whether it will come back."
            ),
            group="workloads",
            access=destructive,
            handler=k8s_delete_pod,
            idempotent=True,
            resource_args=write_args,
        ),
    ]

"""The cluster as a whole: node health and capacity, and an overview for the first minute of an incident."""

from __future__ import annotations

from typing import Annotated, Any

import anyio

from warden_core import Access, Budget, ToolSpec
from warden_kubernetes import summaries
from warden_kubernetes.kinds import NODE, POD
from warden_kubernetes.models import Node, NodesResult, Overview, Row
from warden_kubernetes.tools.common import (
    DNS_NAME_PATTERN,
    Cursor,
    Deps,
    KubeContext,
    LabelSelector,
    Position,
    arg,
    decode_cursor,
    encode_cursor,
    fingerprint,
)

PAGE_SIZE = 250
UNHEALTHY_SHOWN = 25
_HEADROOM = 1024

NodeName = Annotated[
    str | None,
    arg("One node, with all its conditions; omit for every node.", pattern=DNS_NAME_PATTERN),
]
NodeLimit = Annotated[int, arg("Most nodes to return.", ge=1, le=500)]


def specs(deps: Deps) -> list[ToolSpec]:  # noqa: PLR0915  (the handlers are closures)
    client, masker, settings = deps.client, deps.masker, deps.settings

    async def k8s_nodes(
        *,
        name: NodeName = None,
        label_selector: LabelSelector = None,
        limit: NodeLimit = 100,
        cursor: Cursor = None,
        context: KubeContext = None,
    ) -> NodesResult:
        deps.kinds.check(NODE)
        conn = await deps.conn(context)
        deps.target(conn, NODE, None, name)
        if name is not None:
            node = summaries.node_info(masker.obj(await client.get(conn, NODE, name, None)), all_conditions=True)
            return NodesResult(count=1, ready=int(node.ready == "True"), items=[node], truncated=False)
        query = fingerprint("nodes", label_selector, conn.label)
        position = decode_cursor(cursor, query)
        items, token = await client.list_page(
            conn, NODE, None, label_selector=label_selector, limit=min(limit, PAGE_SIZE), cont=position.token
        )
        budget = Budget(settings.max_output_bytes - _HEADROOM)
        nodes: list[Node] = []
        next_position: Position | None = None
        for index in range(position.skip, len(items)):
            node = summaries.node_info(masker.obj(items[index]))
            if len(nodes) >= limit or not budget.admit(node.model_dump()):
                next_position = Position(0, position.token, index)
                break
            nodes.append(node)
        if next_position is None and token:
            next_position = Position(0, token, 0)
        return NodesResult(
            count=len(nodes),
            ready=sum(1 for node in nodes if node.ready == "True"),
            items=nodes,
            truncated=next_position is not None,
            next_cursor=encode_cursor(query, next_position) if next_position else None,
        )

    async def scan(conn: Any, rt: Any, target: str | None, field_selector: str | None = None) -> tuple[list[Any], bool]:
        found: list[Any] = []
        token: str | None = None
        while True:
            items, token = await client.list_page(
                conn, rt, target, field_selector=field_selector, limit=PAGE_SIZE, cont=token
            )
            found += items
            if len(found) >= settings.list_scan_items:
                return found, True
            if not token:
                return found, False

    async def k8s_cluster_overview(context: KubeContext = None) -> Overview:
        conn = await deps.conn(context)
        deps.target(conn, NODE, None)
        notes: list[str] = []
        version = await client.version(conn)
        allowed = deps.gate.allowlists["contexts"]
        contexts = [
            name
            for name in await anyio.to_thread.run_sync(client.contexts)
            if allowed.allows(name) or name == client.default_context
        ]
        result = Overview(
            context=conn.context,
            contexts=contexts,
            server_version=str(version.get("gitVersion") or "") or None,
            platform=str(version.get("platform") or "") or None,
            namespaces=[],
        )
        truncated = False
        if deps.kinds.allows(NODE):
            nodes, capped = await scan(conn, NODE, None)
            truncated |= capped
            infos = [summaries.node_info(node) for node in nodes]
            result.nodes = len(infos)
            result.nodes_ready = sum(1 for node in infos if node.ready == "True")
            result.kubelet_versions = sorted({node.version for node in infos if node.version})
            for node in infos:
                if node.ready != "True" or node.problems:
                    problems = "; ".join(node.problems) or f"Ready={node.ready}"
                    notes.append(masker.text(f"node {node.name}: {problems}"))
        else:
            notes.append("nodes are a denied kind on this server")
        if not deps.kinds.allows(POD):
            notes.append("pods are a denied kind on this server")
        elif not deps.gate.allowlists["namespaces"].configured:
            notes.append("no namespace may be read (WARDEN_KUBERNETES_NAMESPACES), so pod health was not checked")
        else:
            scope = deps.scope(POD, None)
            result.namespaces = scope.label or []
            unhealthy: list[dict[str, Any]] = []
            scanned = 0
            for target in scope.targets:
                pods, capped = await scan(conn, POD, target, "status.phase!=Succeeded")
                pods = [pod for pod in pods if deps.visible(POD, pod, scope)]
                scanned += len(pods)
                unhealthy += [pod for pod in pods if summaries.pod_unhealthy(pod)]
                if capped:
                    truncated = True
                    notes.append(f"pod scan stopped at {settings.list_scan_items} pods")
                    break
            result.pods_scanned = scanned
            result.unhealthy_total = len(unhealthy)
            rows = [summaries.masked_row(pod, masker) for pod in unhealthy]
            rows.sort(key=lambda r: (_severity(r), r.namespace or "", r.name))
            budget = Budget(settings.max_output_bytes // 2)
            result.unhealthy_pods = [r for r in rows[:UNHEALTHY_SHOWN] if budget.admit(r.model_dump())]
            truncated |= len(result.unhealthy_pods) < len(rows)
        result.notes = notes[:20]
        result.truncated = truncated
        return result

    read = Access.READ
    return [
        ToolSpec(
            name="k8s_nodes",
            title="Kubernetes nodes",
            description=(
                "Node health and capacity: Ready status, roles, kubelet version, taints, cordoned, capacity and "
                "allocatable (cpu, memory, pods), and any pressure conditions. Give name for one node with all "
                "its conditions and messages."
            ),
            group="cluster",
            access=read,
            handler=k8s_nodes,
            resource_args={"context": "contexts"},
        ),
        ToolSpec(
            name="k8s_cluster_overview",
            title="Cluster overview",
            description=(
                "First look at a cluster: context in use, server version, node count and readiness, kubelet "
                "versions, and the unhealthy pods (crash-looping, pending, failed, not ready) in the namespaces "
                "this server may read."
            ),
            group="cluster",
            access=read,
            handler=k8s_cluster_overview,
            resource_args={"context": "contexts"},
        ),
    ]


_ORDER = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled", "Error", "Pending")


def _severity(row: Row) -> int:
    status = row.status or ""
    return next((i for i, word in enumerate(_ORDER) if word in status), len(_ORDER))

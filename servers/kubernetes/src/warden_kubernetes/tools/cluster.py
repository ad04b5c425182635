"""The cluster as a whole: an overview for the first minute of an incident."""

from __future__ import annotations

from typing import Any

import anyio

from warden_core import Access, Budget, ToolSpec
from warden_kubernetes import summaries
from warden_kubernetes.kinds import NODE, POD
from warden_kubernetes.models import Item, Overview
from warden_kubernetes.tools.common import Deps, KubeContext

PAGE_SIZE = 250
UNHEALTHY_SHOWN = 25
_HEADROOM = 1024


def specs(deps: Deps) -> list[ToolSpec]:  # noqa: PLR0915  (the handlers are closures)
    client, masker, settings = deps.client, deps.masker, deps.settings

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
            name="k8s_cluster_overview",
            title="Cluster overview",
            description=(
                "First look at a cluster: context, server version, node readiness and problems, and the unhealthy "
                "pods (crash-looping, pending, failed, not ready) in readable namespaces."
            ),
            group="cluster",
            access=read,
            handler=k8s_cluster_overview,
            resource_args={"context": "contexts"},
        ),
    ]


_ORDER = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled", "Error", "Pending")


def _severity(row: Item) -> int:
    status = row.status or ""
    return next((i for i, word in enumerate(_ORDER) if word in status), len(_ORDER))

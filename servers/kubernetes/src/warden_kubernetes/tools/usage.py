"""Resource usage from the metrics API (metrics.k8s.io, served by metrics-server): `kubectl top`.

A cluster without metrics-server has no such API (404), and one whose metrics-server is down answers
503 for it. Both are an answer, not an outage: the result says so, nothing is retried, and the
circuit breaker that guards the API server is left alone.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import Annotated, Any, Literal

from warden_core import Access, Budget, InvalidArgument, NotFound, ToolSpec
from warden_kubernetes.errors import ServerError
from warden_kubernetes.kinds import NODE, NODE_METRICS, POD_METRICS
from warden_kubernetes.models import TopResult, Usage
from warden_kubernetes.tools.common import AnyNamespace, Deps, KubeContext, LabelSelector, arg

PAGE_SIZE = 250
_HEADROOM = 1024
ABSENT = "the cluster serves no metrics API (metrics.k8s.io): metrics-server is not installed"
DOWN = "the metrics API (metrics.k8s.io) is registered but not answering (503): is metrics-server running?"

TopKind = Annotated[Literal["pods", "nodes"], arg("pods (with their containers) or nodes.")]
Sort = Annotated[Literal["cpu", "memory"], arg("Highest first by this.")]
TopLimit = Annotated[int, arg("Most rows to return.", ge=1, le=200)]

_QUANTITY = re.compile(r"^(\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE]([+-]?\d{1,3})|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$")
_SCALE = {"": Fraction(1)} | {
    suffix: Fraction(1000) ** power for suffix, power in zip("numkMGTPE", (-3, -2, -1, 1, 2, 3, 4, 5, 6), strict=True)
}
_SCALE |= {f"{prefix}i": Fraction(1024) ** (power + 1) for power, prefix in enumerate("KMGTPE")}


def quantity(value: Any) -> Fraction:
    """A Kubernetes quantity (`250m`, `1.5`, `129548Ki`, `1e3`), exactly; 0 when it is not one."""
    found = _QUANTITY.match(str(value).strip())
    if not found:
        return Fraction(0)
    number, exponent, suffix = found.groups()
    return Fraction(number) * (Fraction(10) ** int(exponent) if exponent else _SCALE[suffix or ""])


def cpu(cores: Fraction) -> str:
    """Millicores, rounded up, as kubectl top prints them."""
    return f"{math.ceil(cores * 1000)}m"


def memory(size: Fraction) -> str:
    """Whole MiB, rounded down, as kubectl top prints them."""
    return f"{math.floor(size / 2**20)}Mi"


def percent(used: Fraction, allocatable: Fraction) -> str:
    return f" ({math.floor(100 * used / allocatable)}%)" if allocatable else ""


def specs(deps: Deps) -> list[ToolSpec]:
    client, masker, settings = deps.client, deps.masker, deps.settings

    def metrics(conn: Any, path: str, what: str, query: list[tuple[str, str]]) -> dict[str, Any] | str:
        """The metrics API's answer, or why there is none (in the worker thread, so no retry or breaker)."""
        try:
            return client.get_json(conn, path, what, query)
        except NotFound:
            return ABSENT
        except ServerError as exc:
            if exc.status == 503:
                return DOWN
            raise

    async def allocatable(conn: Any, label_selector: str | None) -> dict[str, tuple[Fraction, Fraction]]:
        """Allocatable (cpu, memory) per node, for `kubectl top node`'s percentages."""
        found: dict[str, tuple[Fraction, Fraction]] = {}
        token: str | None = None
        while len(found) < settings.list_scan_items:
            items, token = await client.list_page(
                conn, NODE, None, label_selector=label_selector, limit=PAGE_SIZE, cont=token
            )
            for node in items:
                status = (node.get("status") or {}).get("allocatable") or {}
                name = str((node.get("metadata") or {}).get("name"))
                found[name] = (quantity(status.get("cpu")), quantity(status.get("memory")))
            if not token:
                break
        return found

    async def k8s_top(
        *,
        kind: TopKind,
        namespace: AnyNamespace = None,
        label_selector: LabelSelector = None,
        sort: Sort = "cpu",
        limit: TopLimit = 20,
        context: KubeContext = None,
    ) -> TopResult:
        if kind == "nodes" and namespace:
            raise InvalidArgument("nodes belong to no namespace: omit `namespace` with kind=nodes")
        rt = POD_METRICS if kind == "pods" else NODE_METRICS
        deps.kinds.check(rt)
        conn = await deps.conn(context)
        scope = deps.scope(rt, namespace)
        deps.target(conn, rt, namespace)
        query = [("labelSelector", label_selector)] if label_selector else []
        found: list[tuple[Fraction, Fraction, Usage]] = []
        for target in scope.targets:
            what = f"{rt.kind} in namespace {target}" if target else rt.kind
            answer = await client.run(functools.partial(metrics, conn, rt.collection(target), what, query), what=what)
            if isinstance(answer, str):
                return TopResult(kind=kind, namespaces=scope.label, available=False, count=0, note=answer)
            listed = [item for item in answer.get("items") or [] if isinstance(item, dict)]
            found += [_usage(item, masker.text) for item in listed if deps.visible(rt, item, scope)]
        note = None
        if kind == "nodes":
            if deps.kinds.allows(NODE):
                shares = await allocatable(conn, label_selector)
                for cores, size, row in found:
                    node_cpu, node_memory = shares.get(row.name, (Fraction(0), Fraction(0)))
                    row.cpu += percent(cores, node_cpu)
                    row.memory += percent(size, node_memory)
            else:
                note = "nodes are a denied kind on this server, so no share of allocatable is shown"
        found.sort(
            key=lambda entry: (-(entry[0] if sort == "cpu" else entry[1]), entry[2].namespace or "", entry[2].name)
        )
        budget = Budget(settings.max_output_bytes - _HEADROOM)
        items = []
        for _, _, row in found[:limit]:
            if not budget.admit(row.model_dump()):
                break
            items.append(row)
        return TopResult(
            kind=kind,
            namespaces=scope.label,
            available=True,
            count=len(found),
            items=items,
            truncated=len(items) < len(found),
            note=note,
        )

    return [
        ToolSpec(
            name="k8s_top",
            title="Resource usage",
            description=(
                "CPU and memory in use (metrics-server, like kubectl top), highest first: pods with their "
                "containers, or nodes with their share of allocatable."
            ),
            group="usage",
            access=Access.READ,
            handler=k8s_top,
            resource_args={"namespace": "namespaces", "context": "contexts"},
        ),
    ]


def _usage(item: dict[str, Any], text: Any) -> tuple[Fraction, Fraction, Usage]:
    """(cores, bytes, row) of one PodMetrics or NodeMetrics item."""
    metadata = item.get("metadata") or {}
    name, namespace = text(str(metadata.get("name", ""))), metadata.get("namespace")
    if "containers" not in item:
        usage = item.get("usage") or {}
        cores, size = quantity(usage.get("cpu")), quantity(usage.get("memory"))
        return cores, size, Usage(name=name, cpu=cpu(cores), memory=memory(size))
    containers = []
    total_cores = total_size = Fraction(0)
    for container in item.get("containers") or []:
        usage = (container or {}).get("usage") or {}
        cores, size = quantity(usage.get("cpu")), quantity(usage.get("memory"))
        total_cores += cores
        total_size += size
        containers.append(Usage(name=text(str(container.get("name", ""))), cpu=cpu(cores), memory=memory(size)))
    row = Usage(name=name, namespace=namespace, cpu=cpu(total_cores), memory=memory(total_size), containers=containers)
    return total_cores, total_size, row

"""Tool groups, in the order they are listed: resources, workloads, cluster."""

from __future__ import annotations

from warden_core import ToolSpec
from warden_kubernetes.tools import cluster, resources, workloads
from warden_kubernetes.tools.common import Deps

GROUPS = ("resources", "workloads", "cluster")


def all_specs(deps: Deps) -> list[ToolSpec]:
    return [*resources.specs(deps), *workloads.specs(deps), *cluster.specs(deps)]

"""Tool groups, in the order they are listed: resources, workloads, cluster, usage (on by default), helm, access."""

from __future__ import annotations

import dataclasses

from warden_core import ToolSpec
from warden_kubernetes.tools import access, cluster, helm, resources, usage, workloads
from warden_kubernetes.tools.common import Deps, without_argument

DEFAULT_GROUPS = ("resources", "workloads", "cluster", "usage")
GROUPS = (*DEFAULT_GROUPS, "helm", "access")


def all_specs(deps: Deps) -> list[ToolSpec]:
    specs = [
        *resources.specs(deps),
        *workloads.specs(deps),
        *cluster.specs(deps),
        *usage.specs(deps),
        *helm.specs(deps),
        *access.specs(deps),
    ]
    if deps.settings.contexts:
        return specs
    # Only the default context is reachable, so no tool offers a `context` argument that could only fail.
    return [dataclasses.replace(spec, handler=without_argument(spec.handler, "context")) for spec in specs]

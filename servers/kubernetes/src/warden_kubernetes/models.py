"""Result models. They become the tools' output schemas, so they stay small: no docstrings, no field docs,
and items inside a result name their fields without their types (`Row`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from warden_core.results import Row


class Out(BaseModel):
    """Base of every result model (the core keeps its schema, the tool's output schema, lean)."""


class Item(Row):  # one object in a compact listing
    name: str
    namespace: str | None = None
    age: str | None = None
    status: str | None = None
    info: dict[str, str] = Field(default_factory=dict)


class Container(Row):
    name: str
    image: str | None = None
    init: bool = False
    ready: bool | None = None
    restarts: int | None = None
    state: str | None = None
    last_state: str | None = None


class ListResult(Out):
    kind: str
    api_version: str
    namespaces: list[str] | None = None
    count: int
    items: list[Item] = []
    objects: list[dict[str, Any]] | None = None
    yaml: str | None = None
    truncated: bool
    next_cursor: str | None = None


class ObjectResult(Out):
    kind: str
    api_version: str
    name: str
    namespace: str | None = None
    age: str | None = None
    status: str | None = None
    info: dict[str, str] = {}
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owners: list[str] = []
    conditions: list[str] = []
    containers: list[Container] | None = None
    events: list[str] | None = None
    note: str | None = None
    object: dict[str, Any] | None = None
    yaml: str | None = None
    truncated: bool = False


class EventsResult(Out):
    namespaces: list[str]
    count: int
    items: list[str]
    scanned: int
    truncated: bool


class LogsResult(Out):
    pod: str
    namespace: str
    container: str
    containers: list[str]
    text: str
    lines: int
    lines_read: int
    truncated: bool
    note: str | None = None


class RolloutStatus(Out):
    kind: str
    name: str
    namespace: str
    done: bool
    failed: bool
    message: str
    desired: int | None = None
    updated: int | None = None
    ready: int | None = None
    available: int | None = None
    conditions: list[str] = []
    waited_seconds: float = 0.0


class Overview(Out):
    context: str | None
    contexts: list[str]
    server_version: str | None = None
    platform: str | None = None
    nodes: int | None = None
    nodes_ready: int | None = None
    kubelet_versions: list[str] = []
    namespaces: list[str]
    pods_scanned: int = 0
    unhealthy_pods: list[Item] = []
    unhealthy_total: int = 0
    notes: list[str] = []
    truncated: bool = False


class Usage(Out):
    name: str
    namespace: str | None = None
    cpu: str
    memory: str
    containers: list[Usage] | None = None


class TopResult(Out):
    kind: str
    namespaces: list[str] | None = None
    available: bool
    count: int
    items: list[Usage] = []
    truncated: bool = False
    note: str | None = None


class Release(Out):
    name: str
    namespace: str
    revision: int
    status: str
    chart: str | None = None
    app_version: str | None = None
    updated: str | None = None
    description: str | None = None


class HelmResult(Out):
    namespaces: list[str] | None = None
    releases: list[Release] = []
    notes: str | None = None
    resources: list[str] | None = None
    values: str | None = None
    manifest: str | None = None
    truncated: bool = False
    note: str | None = None


class Binding(Out):
    binding: str
    role: str
    subject: str
    rules: list[str] = []


class AccessResult(Out):
    namespace: str
    subject: str
    allowed: bool | None = None
    reason: str | None = None
    rules: list[str] | None = None
    bindings: list[Binding] | None = None
    incomplete: bool = False
    note: str | None = None


class ScaleResult(Out):
    kind: str
    name: str
    namespace: str
    previous_replicas: int | None
    replicas: int


class RestartResult(Out):
    kind: str
    name: str
    namespace: str
    restarted_at: str


class DeleteResult(Out):
    name: str
    namespace: str
    deleted: bool
    owner: str | None = None

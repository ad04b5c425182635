"""Reading any resource kind: list, get (or describe, with events) and events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from warden_core import Access, Budget, InvalidArgument, ToolSpec, json_size, truncate_text
from warden_kubernetes import summaries
from warden_kubernetes.client import Connection
from warden_kubernetes.kinds import EVENT, KIND_PATTERN, ResourceType
from warden_kubernetes.models import EventsResult, Item, ListResult, ObjectResult
from warden_kubernetes.tools.common import (
    NAME_PATTERN,
    NAMESPACE_PATTERN,
    AnyNamespace,
    Cursor,
    Deps,
    FieldSelector,
    Kind,
    KubeContext,
    LabelSelector,
    Name,
    Position,
    arg,
    decode_cursor,
    encode_cursor,
    fingerprint,
    to_yaml,
)

PAGE_SIZE = 250
MAX_PAGES = 20
DESCRIBE_EVENTS = 20
_HEADROOM = 1024

Output = Annotated[
    Literal["summary", "json", "yaml"],
    arg("summary rows, or full objects."),
]
ObjectOutput = Annotated[
    Literal["summary", "describe", "json", "yaml"],
    arg("describe adds recent events; json/yaml: the full object."),
]
ObjectNamespace = Annotated[str | None, arg("Namespace (namespaced kinds).", pattern=NAMESPACE_PATTERN)]
ListLimit = Annotated[int, arg("Most objects to return.", ge=1, le=500)]
EventLimit = Annotated[int, arg("Most events to return.", ge=1, le=200)]
WarningsOnly = Annotated[bool, arg("Only Warning events.")]
EventKind = Annotated[
    str | None,
    arg("Only events about this kind (with name).", pattern=KIND_PATTERN),
]
EventName = Annotated[
    str | None,
    arg("Only events about the object of this name.", pattern=NAME_PATTERN),
]


def specs(deps: Deps) -> list[ToolSpec]:  # noqa: PLR0915  (the handlers are closures)
    client, masker, settings = deps.client, deps.masker, deps.settings

    async def resolve(conn: Connection, kind: str, *, involved: bool = False) -> ResourceType:
        """The type `kind` names, checked for reading (or, `involved`, as what events are about)."""
        deps.kinds.check_name(kind)
        rt = await client.resolve(conn, kind)
        (deps.kinds.check if involved else deps.check_readable)(rt)
        return rt

    async def k8s_list(
        *,
        kind: Kind,
        namespace: AnyNamespace = None,
        label_selector: LabelSelector = None,
        field_selector: FieldSelector = None,
        output: Output = "summary",
        limit: ListLimit = 50,
        cursor: Cursor = None,
        context: KubeContext = None,
    ) -> ListResult:
        deps.kinds.check_name(kind)
        conn = await deps.conn(context)
        rt = await resolve(conn, kind)
        scope = deps.scope(rt, namespace)
        query = fingerprint("list", rt.qualified, namespace, label_selector, field_selector, conn.label)
        position = decode_cursor(cursor, query)
        deps.target(conn, rt, namespace)
        # YAML runs up to a fifth longer than the compact JSON the budget measures.
        budget = Budget(int((settings.max_output_bytes - _HEADROOM) * (0.8 if output == "yaml" else 1)))
        rows: list[Item] = []
        objects: list[dict[str, Any]] = []
        next_position: Position | None = None
        truncated = False
        pages = 0
        while position.index < len(scope.targets):
            if pages == MAX_PAGES:
                next_position, truncated = position, True
                break
            pages += 1
            items, token = await client.list_page(
                conn,
                rt,
                scope.targets[position.index],
                label_selector=label_selector,
                field_selector=field_selector,
                limit=PAGE_SIZE,
                cont=position.token,
            )
            stopped = False
            for index in range(position.skip, len(items)):
                if len(rows) + len(objects) >= limit:
                    next_position, stopped = Position(position.index, position.token, index), True
                    break
                if not deps.visible(rt, items[index], scope):
                    continue
                here = Position(position.index, position.token, index)
                entry = render_entry(items[index], output, budget, first=not rows and not objects)
                if entry is None:
                    next_position, stopped, truncated = here, True, True
                    break
                (rows if output == "summary" else objects).append(entry)
            if stopped:
                break
            position = Position(position.index, token, 0) if token else Position(position.index + 1)
            if len(rows) + len(objects) >= limit and position.index < len(scope.targets):
                next_position = position
                break
        return ListResult(
            kind=rt.kind,
            api_version=rt.api_version,
            namespaces=scope.label,
            count=len(rows) + len(objects),
            items=rows,
            objects=objects if output == "json" else None,
            yaml=to_yaml(objects) if output == "yaml" else None,
            truncated=truncated or next_position is not None,
            next_cursor=encode_cursor(query, next_position) if next_position is not None else None,
        )

    def render_entry(item: dict[str, Any], output: str, budget: Budget, *, first: bool) -> Any:
        """One listed object as a masked row or masked object, or None when the output cap is reached.

        Rows hold no field values a credential could hide in (keys, not values, for Secrets and
        ConfigMaps), so they are built from the object and then masked as text, which is much cheaper.
        An object far too big for what is left is not even masked; one that is too big on its own
        becomes a stub, so the cursor always moves on.
        """
        if output == "summary":
            row = summaries.masked_row(item, masker)
            return row if budget.admit(row.model_dump()) else None
        if not first and json_size(item) > 4 * budget.remaining:
            budget.truncated = True
            return None
        masked = masker.obj(item)
        if budget.admit(masked):
            return masked
        if not first:
            return None
        metadata = masked.get("metadata") or {}
        stub = {
            "apiVersion": masked.get("apiVersion"),
            "kind": masked.get("kind"),
            "metadata": {"name": metadata.get("name"), "namespace": metadata.get("namespace")},
            "warden": "object larger than the output cap; read it with k8s_get output=yaml (capped)",
        }
        budget.admit(stub)
        return stub

    async def fetch(
        conn: Connection, kind: str, name: str, namespace: str | None
    ) -> tuple[ResourceType, dict[str, Any]]:
        rt = await resolve(conn, kind)
        if rt.namespaced and not namespace:
            raise InvalidArgument(f"{rt.kind} is namespaced: give `namespace`")
        deps.check_namespace_object(rt, name)
        deps.target(conn, rt, namespace, name)
        obj = await client.get(conn, rt, name, namespace if rt.namespaced else None)
        return rt, masker.obj(obj)

    def render(rt: ResourceType, obj: dict[str, Any], output: str, reserve: int = 0) -> ObjectResult:
        fields = summaries.digest(obj)
        limit = settings.max_output_bytes - _HEADROOM - reserve
        if output == "summary":
            return ObjectResult(**fields)
        identity = {k: fields[k] for k in ("kind", "api_version", "name", "namespace", "age", "status")}
        if output == "json" and json_size(obj) <= limit:
            return ObjectResult(**identity, object=obj)
        text, cut = truncate_text(to_yaml([obj]), limit)
        return ObjectResult(**identity, yaml=text, truncated=cut)

    async def object_events(
        conn: Connection, rt: ResourceType, obj: dict[str, Any], limit: int
    ) -> tuple[list[str], str | None]:
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace") if rt.namespaced else "default"
        if not deps.kinds.allows(EVENT):
            return [], "events are a denied kind on this server"
        if not rt.namespaced and not deps.namespace_allowed(str(namespace)):
            return [], "events of cluster-scoped objects live in namespace default, which this server may not read"
        selector = f"involvedObject.name={metadata.get('name')},involvedObject.kind={rt.kind}"
        items, _ = await client.list_page(conn, EVENT, str(namespace), field_selector=selector, limit=PAGE_SIZE)
        newest = summaries.sort_events([masker.obj(item) for item in items])[:limit]
        return [summaries.event_row(event).line() for event in newest], None

    async def k8s_get(
        *,
        kind: Kind,
        name: Name,
        namespace: ObjectNamespace = None,
        output: ObjectOutput = "summary",
        context: KubeContext = None,
    ) -> ObjectResult:
        deps.kinds.check_name(kind)
        conn = await deps.conn(context)
        rt, obj = await fetch(conn, kind, name, namespace)
        if output != "describe":
            return render(rt, obj, output)
        result = ObjectResult(**summaries.digest(obj))
        events, note = await object_events(conn, rt, obj, DESCRIBE_EVENTS)
        budget = Budget(settings.max_output_bytes - _HEADROOM - json_size(result.model_dump()))
        result.events = [event for event in events if budget.admit(event)]
        result.note = note
        result.truncated = budget.truncated
        return result

    async def k8s_events(
        *,
        namespace: AnyNamespace = None,
        kind: EventKind = None,
        name: EventName = None,
        warnings_only: WarningsOnly = False,
        limit: EventLimit = 30,
        context: KubeContext = None,
    ) -> EventsResult:
        deps.kinds.check(EVENT)
        if kind is not None:
            deps.kinds.check_name(kind)
        conn = await deps.conn(context)
        involved_kind = (await resolve(conn, kind, involved=True)).kind if kind else None
        scope = deps.scope(EVENT, namespace)
        deps.target(conn, EVENT, namespace)
        selectors = []
        if involved_kind:
            selectors.append(f"involvedObject.kind={involved_kind}")
        if name:
            selectors.append(f"involvedObject.name={name}")
        if warnings_only:
            selectors.append("type=Warning")
        found: list[dict[str, Any]] = []
        capped = False
        for target in scope.targets:
            token: str | None = None
            while True:
                items, token = await client.list_page(
                    conn, EVENT, target, field_selector=",".join(selectors) or None, limit=PAGE_SIZE, cont=token
                )
                found += [item for item in items if deps.visible(EVENT, item, scope)]
                if len(found) >= settings.list_scan_items:
                    capped = True
                    break
                if not token:
                    break
            if capped:
                break
        newest = summaries.sort_events(found)
        budget = Budget(settings.max_output_bytes - _HEADROOM)
        rows = []
        for event in newest[:limit]:
            entry = summaries.event_row(masker.obj(event)).line(where=True)
            if not budget.admit(entry):
                break
            rows.append(entry)
        return EventsResult(
            namespaces=scope.label or [],
            count=len(rows),
            items=rows,
            scanned=len(found),
            truncated=capped or budget.truncated or len(newest) > len(rows),
        )

    read = Access.READ
    return [
        ToolSpec(
            name="k8s_list",
            title="List Kubernetes objects",
            description=(
                "List objects of any kind (built-in or CRD) in one namespace or all readable ones. Compact rows "
                "with status and kind-specific info (pods: ready, restarts, node; nodes: roles, allocatable, "
                "taints, pressure), or full objects. Capped: continue with next_cursor."
            ),
            group="resources",
            access=read,
            handler=k8s_list,
            resource_args={"namespace": "namespaces", "context": "contexts"},
        ),
        ToolSpec(
            name="k8s_get",
            title="Get a Kubernetes object",
            description=(
                "Read one object of any kind: a summary (status, labels, owners, conditions, containers); describe, "
                "the summary with recent events (start here when something fails); or the full object as "
                "json|yaml, size-capped."
            ),
            group="resources",
            access=read,
            handler=k8s_get,
            resource_args={"namespace": "namespaces", "context": "contexts"},
        ),
        ToolSpec(
            name="k8s_events",
            title="Kubernetes events",
            description=(
                "Events, newest first, in one namespace or all readable ones; optionally only about one object "
                "(kind + name) or only warnings."
            ),
            group="resources",
            access=read,
            handler=k8s_events,
            resource_args={"namespace": "namespaces", "context": "contexts"},
        ),
    ]

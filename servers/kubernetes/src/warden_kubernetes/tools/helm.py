"""Helm releases (off by default): list, status, history, values and manifest, from Helm 3's release records.

The records are Secrets, and RBAC cannot grant Secrets by label, so this group needs `list` on Secrets in
the namespaces it reads. The server holds that read to Helm's records alone: every Secret request carries
the label selector `owner=helm` (the client refuses any other while this group is on), only a Secret of
type `helm.sh/release.v1` with the exact name and labels Helm gives it is decoded, and the Secret itself is
never returned. With this group on, `k8s_list` and `k8s_get` refuse Secrets altogether.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio

from warden_core import Access, Budget, InvalidArgument, NotFound, ToolSpec, truncate_text
from warden_core.audit import note_target
from warden_kubernetes import helm
from warden_kubernetes.client import Connection
from warden_kubernetes.kinds import SECRET
from warden_kubernetes.models import HelmResult, Release
from warden_kubernetes.tools.common import AnyNamespace, Deps, KubeContext, Scope, arg

PAGE_SIZE = 250
_HEADROOM = 2048
RELEASE_PATTERN = r"^[a-z0-9][-a-z0-9.]{0,52}$"  # Helm's release names: no `,`, `=` or `!` can reach a selector

View = Annotated[
    Literal["list", "status", "history", "values", "manifest"],
    arg(
        "list: releases (latest revision each); for one release: status (with notes and resources), history "
        "(its revisions), values (user-supplied) or manifest (rendered objects)."
    ),
]
ReleaseName = Annotated[str | None, arg("Release name; needed by every view but list.", pattern=RELEASE_PATTERN)]
RevisionNumber = Annotated[int | None, arg("Revision; omit for the latest.", ge=1, le=1_000_000)]
HelmLimit = Annotated[int, arg("Most releases or revisions to return.", ge=1, le=200)]

Entry = tuple[str, str, int]  # (namespace, release, revision) of one record, from its metadata


def specs(deps: Deps) -> list[ToolSpec]:  # noqa: PLR0915  (the handlers are closures)
    client, masker, settings = deps.client, deps.masker, deps.settings

    async def entries(conn: Connection, scope: Scope, release: str | None) -> tuple[list[Entry], bool]:
        """Every release record in scope, from the Secrets' metadata alone; True when the scan was capped."""
        found: list[Entry] = []
        for target in scope.targets:
            token: str | None = None
            while True:
                items, token = await client.list_page(
                    conn,
                    SECRET,
                    target,
                    label_selector=helm.selector(release),
                    limit=PAGE_SIZE,
                    cont=token,
                    metadata_only=True,
                )
                found += [entry for item in items if deps.visible(SECRET, item, scope) and (entry := _entry(item))]
                if len(found) >= settings.list_scan_items:
                    return found, True
                if not token:
                    break
        return found, False

    async def read(
        conn: Connection, namespace: str, release: str, revision: int, *, content: bool = False
    ) -> helm.Revision | None:
        """One revision's record, decoded in a worker thread (None when there is no such record)."""
        items, _ = await client.list_page(
            conn, SECRET, namespace, label_selector=helm.selector(release, revision), limit=5
        )
        secret = next((item for item in items if helm.is_release(item, release, revision)), None)
        if secret is None:
            return None
        limit = settings.helm_release_bytes
        return await anyio.to_thread.run_sync(lambda: helm.revision(secret, limit, content=content))

    def row(found: helm.Revision) -> Release:
        def text(value: str | None) -> str | None:
            return masker.text(value) if value else None

        return Release(
            name=found.name,
            namespace=found.namespace,
            revision=found.revision,
            status=masker.text(found.status),
            chart=text(found.chart),
            app_version=text(found.app_version),
            updated=text(found.updated),
            description=text(found.description),
        )

    async def k8s_helm(
        *,
        view: View,
        namespace: AnyNamespace = None,
        release: ReleaseName = None,
        revision: RevisionNumber = None,
        limit: HelmLimit = 50,
        context: KubeContext = None,
    ) -> HelmResult:
        deps.kinds.check(SECRET)
        if view != "list" and (release is None or namespace is None):
            raise InvalidArgument(f"view={view} reads one release: give `release` and `namespace`")
        if view in {"list", "history"} and revision is not None:
            raise InvalidArgument(f"view={view} shows the revisions itself: omit `revision`")
        conn = await deps.conn(context)
        scope = deps.scope(SECRET, namespace)
        note_target(f"{conn.label}:{namespace + '/' if namespace else ''}helm/{release or '*'}")
        if view == "list":
            return await list_releases(conn, scope, release, limit)
        assert namespace is not None and release is not None
        if view == "history":
            return await history(conn, scope, namespace, release, limit)
        if revision is None:
            found, _ = await entries(conn, scope, release)
            revision = max((entry[2] for entry in found), default=None)
        record = await read(conn, namespace, release, revision, content=True) if revision else None
        if record is None:
            at = f" at revision {revision}" if revision else ""
            raise NotFound(f"namespace {namespace} has no Helm release {release!r}{at}")
        result = HelmResult(namespaces=scope.label, releases=[row(record)])
        if record.error:
            result.note = f"the record of revision {record.revision} was not read: {record.error}"
            return result
        budget = settings.max_output_bytes - _HEADROOM
        return await anyio.to_thread.run_sync(lambda: render(result, record, view, budget))

    def render(result: HelmResult, record: helm.Revision, view: str, budget: int) -> HelmResult:
        """Status, values or manifest of one revision, masked (in a worker thread: manifests can be large)."""
        values, secrets = helm.mask_values(masker, record.values)
        if view == "status":
            notes = helm.mask_text(masker, record.notes, secrets) if record.notes else None
            result.notes, result.truncated = truncate_text(notes, budget // 2) if notes else (None, False)
            result.resources = helm.resources(record.manifest or "")
        elif view == "values":
            result.values, result.truncated = truncate_text(helm.dump(values) if values else "{}\n", budget)
        else:
            result.manifest, result.truncated = helm.mask_manifest(masker, record.manifest or "", secrets, budget)
        return result

    async def list_releases(conn: Connection, scope: Scope, release: str | None, limit: int) -> HelmResult:
        found, capped = await entries(conn, scope, release)
        latest: dict[tuple[str, str], int] = {}
        for namespace, name, number in found:
            latest[(namespace, name)] = max(number, latest.get((namespace, name), 0))
        return await rows(
            conn, scope, [(ns, name, number) for (ns, name), number in sorted(latest.items())], limit, capped
        )

    async def history(conn: Connection, scope: Scope, namespace: str, release: str, limit: int) -> HelmResult:
        found, capped = await entries(conn, scope, release)
        revisions = sorted((entry for entry in found if entry[:2] == (namespace, release)), key=lambda e: -e[2])
        if not revisions:
            raise NotFound(f"namespace {namespace} has no Helm release {release!r}")
        return await rows(conn, scope, revisions, limit, capped)

    async def rows(conn: Connection, scope: Scope, wanted: list[Entry], limit: int, capped: bool) -> HelmResult:
        result = HelmResult(namespaces=scope.label, truncated=capped or len(wanted) > limit)
        budget = Budget(settings.max_output_bytes - _HEADROOM)
        unread = []
        for namespace, name, number in wanted[:limit]:
            found = await read(conn, namespace, name, number)
            if found is None:  # not a release record after all, or gone since the scan (an uninstall)
                continue
            if found.error:
                unread.append(f"{namespace}/{name} revision {number}: {found.error}")
            entry = row(found)
            if not budget.admit(entry.model_dump()):
                result.truncated = True
                break
            result.releases.append(entry)
        if unread:
            result.note = "records not read: " + "; ".join(unread[:10])
        return result

    return [
        ToolSpec(
            name="k8s_helm",
            title="Helm releases",
            description=(
                "Helm 3 releases from their release records: list them, or one release's status (notes, "
                "resources), history, user-supplied values or rendered manifest. Secret values are masked."
            ),
            group="helm",
            access=Access.READ,
            handler=k8s_helm,
            resource_args={"namespace": "namespaces", "context": "contexts"},
        ),
    ]


def _entry(item: dict[str, Any]) -> Entry | None:
    """(namespace, release, revision) of a listed release record, if its name and labels are Helm's."""
    metadata = item.get("metadata") or {}
    labels = metadata.get("labels") or {}
    name, version = str(labels.get("name", "")), str(labels.get("version", ""))
    if not version.isdigit() or len(version) > 7 or metadata.get("name") != helm.secret_name(name, int(version)):
        return None
    return str(metadata.get("namespace", "")), name, int(version)

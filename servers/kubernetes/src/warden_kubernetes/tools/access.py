"""The RBAC review (off by default): what an identity may do in one namespace.

- rules: the server's own identity's rules there (a SelfSubjectRulesReview, which any identity may ask);
- check: whether a user, group or service account may do a verb on a resource there (a
  LocalSubjectAccessReview: the SubjectAccessReview of one namespace, so its grant can be given per
  namespace and the question never leaves the namespace allowlist);
- bindings: the namespace's RoleBindings and the ClusterRoleBindings that name the subject, or a group it
  is known to be in, with their roles' rules.

Reviews are `create` requests, yet change nothing: the API server answers them and stores nothing. So
this is a read tool, and its RBAC grant (`create` on localsubjectaccessreviews) is documented as such.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from warden_core import Access, Budget, InvalidArgument, NotFound, PermissionDenied, ToolSpec
from warden_core.audit import note_target
from warden_kubernetes.client import Connection
from warden_kubernetes.kinds import RBAC, ResourceType
from warden_kubernetes.models import AccessResult, Binding
from warden_kubernetes.tools.common import NAME_PATTERN, Deps, KubeContext, Namespace, arg

PAGE_SIZE = 250
MAX_BINDINGS = 100
_HEADROOM = 1024
_REVIEWS = "/apis/authorization.k8s.io/v1"
ROLE, ROLE_BINDING, CLUSTER_ROLE, CLUSTER_ROLE_BINDING = (
    RBAC[kind] for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
)
RESOURCE_PATTERN = r"^[A-Za-z][A-Za-z0-9.-]{0,252}(?:/[a-z]{1,63})?$"
_SERVICE_ACCOUNT = re.compile(r"^system:serviceaccount:([a-z0-9][-a-z0-9]{0,62}):([a-z0-9][-a-z0-9.]{0,252})$")

View = Annotated[
    Literal["rules", "check", "bindings"],
    arg(
        "rules: what this server's identity may do; check: may subject do verb on resource (a "
        "SubjectAccessReview); bindings: role bindings naming subject, with their rules."
    ),
]
SubjectArg = Annotated[
    str | None,
    arg(
        "User name, system:serviceaccount:<namespace>:<name>, or group:<name>.",
        pattern=r"^[A-Za-z0-9@._:+=#/-]{1,253}$",
    ),
]
Verb = Annotated[
    str | None, arg("get, list, watch, create, update, patch, delete, ...", pattern=r"^(?:[a-z]{1,32}|\*)$")
]
Resource = Annotated[
    str | None,
    arg("Kind, plural or short name, optionally /subresource (pods/log, deployments/scale).", pattern=RESOURCE_PATTERN),
]
ObjectName = Annotated[str | None, arg("One object's name (check only).", pattern=NAME_PATTERN)]


@dataclass(frozen=True)
class Subject:
    """Who a review is about: a user (with the groups it is known to be in) or a group."""

    label: str
    user: str | None
    groups: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Subject:
        if text.startswith("group:"):
            return cls(text, None, (text.removeprefix("group:"),))
        account = _SERVICE_ACCOUNT.match(text)
        if account:  # the groups the API server gives every service account
            groups = ("system:serviceaccounts", f"system:serviceaccounts:{account[1]}", "system:authenticated")
            return cls(text, text, groups)
        return cls(text, text, ("system:authenticated",))

    def named_by(self, entry: Mapping[str, Any]) -> bool:
        kind, name = entry.get("kind"), entry.get("name")
        if kind == "Group":
            return name in self.groups
        if kind == "User":
            return self.user is not None and name == self.user
        if kind == "ServiceAccount":
            return self.user == f"system:serviceaccount:{entry.get('namespace')}:{name}"
        return False


def rule_line(rule: Mapping[str, Any]) -> str:
    """`get,list,watch pods,pods/log (core)`, `* * (*)`, `get /healthz,/version`, `get secrets (core) named a,b`."""
    verbs = ",".join(str(v) for v in rule.get("verbs") or [])
    if rule.get("nonResourceURLs"):
        return f"{verbs} {','.join(str(url) for url in rule['nonResourceURLs'])}"
    groups = ",".join(str(group) or "core" for group in rule.get("apiGroups") or [])
    line = f"{verbs} {','.join(str(r) for r in rule.get('resources') or [])} ({groups})"
    names = rule.get("resourceNames") or []
    return line + (f" named {','.join(str(n) for n in names)}" if names else "")


def specs(deps: Deps) -> list[ToolSpec]:  # noqa: PLR0915  (the handlers are closures)
    client, masker, settings = deps.client, deps.masker, deps.settings

    async def own_rules(conn: Connection, namespace: str) -> AccessResult:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": namespace},
        }
        answer = await client.review(conn, f"{_REVIEWS}/selfsubjectrulesreviews", body, "the server's own rules")
        status = answer.get("status") or {}
        rules = [*(status.get("resourceRules") or []), *(status.get("nonResourceRules") or [])]
        error = status.get("evaluationError")
        return AccessResult(
            namespace=namespace,
            subject="this server's identity",
            rules=[masker.text(rule_line(rule)) for rule in rules if isinstance(rule, dict)],
            incomplete=bool(status.get("incomplete")),
            note=masker.text(str(error)) if error else None,
        )

    async def check(
        conn: Connection, namespace: str, who: Subject, *, verb: str, resource: str, name: str | None
    ) -> AccessResult:
        kind, _, subresource = resource.partition("/")
        rt = await client.resolve(conn, kind)
        attributes = {"namespace": namespace, "verb": verb, "group": rt.group, "resource": rt.plural}
        if subresource:
            attributes["subresource"] = subresource
        if name:
            attributes["name"] = name
        spec: dict[str, Any] = {"resourceAttributes": attributes, "groups": list(who.groups)}
        if who.user:
            spec["user"] = who.user
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "LocalSubjectAccessReview",
            "metadata": {"namespace": namespace},
            "spec": spec,
        }
        path = f"{_REVIEWS}/namespaces/{namespace}/localsubjectaccessreviews"
        try:
            answer = await client.review(conn, path, body, f"an access review in namespace {namespace}")
        except PermissionDenied:
            raise PermissionDenied(
                f"this server's identity may not create localsubjectaccessreviews in namespace {namespace}: "
                "bind the warden-kubernetes-access role there"
            ) from None
        status = answer.get("status") or {}
        reason = status.get("reason") or status.get("evaluationError")
        guessed = who.user is not None and not who.user.startswith("system:serviceaccount:")
        return AccessResult(
            namespace=namespace,
            subject=who.label,
            allowed=bool(status.get("allowed")) and not status.get("denied"),
            reason=masker.text(str(reason)) if reason else None,
            note="a user's groups come from its authenticator and are not known here: only system:authenticated "
            "was assumed (ask for group:<name> to check a group)"
            if guessed
            else None,
        )

    async def scan(conn: Connection, rt: ResourceType, namespace: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        while len(found) < settings.list_scan_items:
            items, token = await client.list_page(conn, rt, namespace, limit=PAGE_SIZE, cont=token)
            found += items
            if not token:
                break
        return found

    async def bindings(conn: Connection, namespace: str, who: Subject) -> AccessResult:
        for rt in (ROLE_BINDING, CLUSTER_ROLE_BINDING, ROLE, CLUSTER_ROLE):
            deps.kinds.check(rt)
        notes: list[str] = []
        listed = await scan(conn, ROLE_BINDING, namespace)
        try:
            listed += await scan(conn, CLUSTER_ROLE_BINDING, None)
        except PermissionDenied:
            notes.append("this server may not list clusterrolebindings, so cluster-wide bindings are not shown")
        roles: dict[tuple[str, str], list[str] | None] = {}
        budget = Budget(settings.max_output_bytes - _HEADROOM)
        found: list[Binding] = []
        truncated = False
        for binding in listed:
            entry = next((s for s in binding.get("subjects") or [] if isinstance(s, dict) and who.named_by(s)), None)
            if entry is None:
                continue
            metadata, ref = binding.get("metadata") or {}, binding.get("roleRef") or {}
            key = (str(ref.get("kind")), str(ref.get("name")))
            if key not in roles:
                roles[key] = await role_rules(conn, key, namespace, notes)
            where = f"{metadata.get('namespace')}/" if metadata.get("namespace") else ""
            account = f"{entry.get('namespace')}/" if entry.get("kind") == "ServiceAccount" else ""
            row = Binding(
                binding=masker.text(f"{binding.get('kind')} {where}{metadata.get('name')}"),
                role=masker.text(f"{key[0]}/{key[1]}"),
                subject=masker.text(f"{entry.get('kind')} {account}{entry.get('name')}"),
                rules=roles[key] or [],
            )
            if len(found) == MAX_BINDINGS or not budget.admit(row.model_dump()):
                truncated = True
                break
            found.append(row)
        if truncated:
            notes.append(f"more bindings name {who.label} than fit in one answer")
        return AccessResult(namespace=namespace, subject=who.label, bindings=found, note="; ".join(notes) or None)

    async def role_rules(conn: Connection, key: tuple[str, str], namespace: str, notes: list[str]) -> list[str] | None:
        kind, name = key
        rt = ROLE if kind == "Role" else CLUSTER_ROLE
        try:
            role = await client.get(conn, rt, name, namespace if kind == "Role" else None)
        except (PermissionDenied, NotFound) as exc:
            notes.append(masker.text(f"the rules of {kind} {name} are not shown: {exc.message}"))
            return None
        return [masker.text(rule_line(rule)) for rule in role.get("rules") or [] if isinstance(rule, dict)]

    async def k8s_access(
        *,
        view: View,
        namespace: Namespace,
        subject: SubjectArg = None,
        verb: Verb = None,
        resource: Resource = None,
        name: ObjectName = None,
        context: KubeContext = None,
    ) -> AccessResult:
        if view != "rules" and subject is None:
            raise InvalidArgument(f"view={view} is about someone: give `subject`")
        if view == "check" and (verb is None or resource is None):
            raise InvalidArgument("view=check needs `verb` and `resource`")
        conn = await deps.conn(context)
        note_target(f"{conn.label}:{namespace}/access/{view}")
        if view == "rules":
            return await own_rules(conn, namespace)
        assert subject is not None
        who = Subject.parse(subject)
        if view == "check":
            assert verb is not None and resource is not None
            return await check(conn, namespace, who, verb=verb, resource=resource, name=name)
        return await bindings(conn, namespace, who)

    return [
        ToolSpec(
            name="k8s_access",
            title="RBAC review",
            description=(
                "What an identity may do in one namespace: this server's own rules, whether a user, group or "
                "service account may do a verb on a resource, or the role bindings that grant it."
            ),
            group="access",
            access=Access.READ,
            handler=k8s_access,
            resource_args={"namespace": "namespaces", "context": "contexts"},
        ),
    ]

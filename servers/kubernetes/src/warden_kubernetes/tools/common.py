"""What every tool group shares: argument types, the dependencies, namespace scoping and cursors.

Argument types are module-level `Annotated` aliases: the SDK evaluates handler annotations against
the handler module's globals, so each tool module imports the ones it uses.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from warden_core import InvalidArgument, Policy, PolicyDenied
from warden_core.audit import note_target
from warden_kubernetes.client import Connection, KubeClient
from warden_kubernetes.kinds import KIND_PATTERN, KindFilter, ResourceType
from warden_kubernetes.masking import Masker
from warden_kubernetes.settings import Settings


def arg(description: str, **constraints: Any) -> Any:
    """`Field(...)` for a tool argument."""
    return Field(description=description, **constraints)


# Patterns bound the length too, and none admits "/": a name can never reach another path or subresource.
NAMESPACE_PATTERN = r"^[a-z0-9][-a-z0-9]{0,62}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,252}$"
DNS_NAME_PATTERN = r"^[a-z0-9][-a-z0-9.]{0,252}$"
CONTEXT_PATTERN = r"^[A-Za-z0-9_.:@/+-]{1,253}$"
SELECTOR_PATTERN = r"^[A-Za-z0-9_./=!,() -]{0,512}$"

KubeContext = Annotated[
    str | None,
    arg("kubeconfig context; omit for the server's default.", pattern=CONTEXT_PATTERN),
]
Kind = Annotated[
    str,
    arg(
        "Kind, plural or short name (Pod, deployments, svc); plural.group for CRDs.",
        pattern=KIND_PATTERN,
    ),
]
Name = Annotated[str, arg("Object name.", pattern=NAME_PATTERN)]
PodName = Annotated[str, arg("Pod name.", pattern=DNS_NAME_PATTERN)]
WorkloadName = Annotated[str, arg("Workload name.", pattern=DNS_NAME_PATTERN)]
Namespace = Annotated[str, arg("Namespace.", pattern=NAMESPACE_PATTERN)]
AnyNamespace = Annotated[
    str | None,
    arg("Namespace; omit for all readable ones.", pattern=NAMESPACE_PATTERN),
]
LabelSelector = Annotated[
    str | None,
    arg("Label selector (app=web,tier!=cache).", pattern=SELECTOR_PATTERN),
]
FieldSelector = Annotated[
    str | None,
    arg("Field selector (status.phase=Running).", pattern=SELECTOR_PATTERN),
]
Cursor = Annotated[
    str | None,
    arg("next_cursor of the previous page.", pattern=r"^[A-Za-z0-9_=-]{1,4096}$"),
]


@dataclass
class Deps:
    """What handlers close over. `policy` is the server's own, attached once the server is built."""

    settings: Settings
    client: KubeClient
    masker: Masker
    kinds: KindFilter
    policy: Policy | None = field(default=None)
    helm_secrets_only: bool = False

    @property
    def gate(self) -> Policy:
        assert self.policy is not None, "build_server attaches the policy"
        return self.policy

    async def conn(self, context: str | None) -> Connection:
        """The connection for `context`, checked against the context allowlist before anything loads."""
        if context is not None:
            self.gate.check("contexts", context, "context")
        return await self.client.connection(context, self._check_default_context)

    def _check_default_context(self, name: str) -> None:
        if self.gate.allowlists["contexts"].configured:
            self.gate.check("contexts", name, "the default context")

    def scope(self, rt: ResourceType, namespace: str | None) -> Scope:
        """Which namespaces a call on `rt` covers, and how to ask for them."""
        if not rt.namespaced:
            return Scope(targets=[None], filter_namespaces=False, label=None)
        if namespace:
            return Scope(targets=[namespace], filter_namespaces=False, label=[namespace])
        allowed = self.gate.allowlists["namespaces"]
        if not allowed.configured:
            raise PolicyDenied(f"no namespace may be read: set {allowed.setting} (e.g. `default,team-*`)")
        if allowed.unrestricted:
            return Scope(targets=[None], filter_namespaces=False, label=["*"])
        if all(not any(ch in pattern for ch in "*?[") for pattern in allowed.patterns):
            names = sorted(set(allowed.patterns))
            return Scope(targets=list(names), filter_namespaces=False, label=names)
        # Globs: one cluster-wide list, filtered here; objects of other namespaces are dropped unread.
        return Scope(targets=[None], filter_namespaces=True, label=list(allowed.patterns))

    def check_readable(self, rt: ResourceType) -> None:
        """The kinds denylist, and Secrets while the helm group holds the Secrets grant for its records alone."""
        self.kinds.check(rt)
        if self.helm_secrets_only and rt.group == "" and rt.plural == "secrets":
            raise PolicyDenied(
                "this server reads Secrets only as Helm release records while the helm group is on; use k8s_helm"
            )

    def namespace_allowed(self, namespace: str) -> bool:
        return self.gate.allows("namespaces", namespace)

    def visible(self, rt: ResourceType, obj: dict[str, Any], scope: Scope) -> bool:
        """Whether a listed object may be shown: its namespace (or, for Namespaces, its name) is allowed."""
        metadata = obj.get("metadata") or {}
        if rt.group == "" and rt.plural == "namespaces":
            return self.namespace_allowed(str(metadata.get("name", "")))
        if scope.filter_namespaces:
            return self.namespace_allowed(str(metadata.get("namespace", "")))
        return True

    def check_namespace_object(self, rt: ResourceType, name: str) -> None:
        if rt.group == "" and rt.plural == "namespaces":
            self.gate.check("namespaces", name, "namespace")

    def target(self, conn: Connection, rt: ResourceType, namespace: str | None, name: str | None = None) -> None:
        where = f"{namespace}/" if namespace and rt.namespaced else ""
        note_target(f"{conn.label}:{where}{rt.qualified}{'/' + name if name else ''}")


@dataclass
class Scope:
    targets: list[str | None]
    filter_namespaces: bool
    label: list[str] | None


@dataclass
class Position:
    """Where a paged listing continues: target index, the API's continue token, items to skip."""

    index: int = 0
    token: str | None = None
    skip: int = 0


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]


def encode_cursor(query: str, position: Position) -> str:
    raw = json.dumps([query, position.index, position.token, position.skip], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, query: str) -> Position:
    if not cursor:
        return Position()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fp, index, token, skip = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidArgument("cursor is not valid; pass next_cursor exactly as returned") from None
    if fp != query:
        raise InvalidArgument("cursor belongs to a different query; repeat the same arguments with it")
    if not (isinstance(index, int) and isinstance(skip, int) and index >= 0 and skip >= 0):
        raise InvalidArgument("cursor is not valid; pass next_cursor exactly as returned")
    if token is not None and not isinstance(token, str):
        raise InvalidArgument("cursor is not valid; pass next_cursor exactly as returned")
    return Position(index, token, skip)


def without_argument(handler: Callable[..., Awaitable[Any]], name: str) -> Callable[..., Awaitable[Any]]:
    """`handler` as a tool that does not offer the argument `name` (the handler gets its default)."""
    signature = inspect.signature(handler, eval_str=True)
    if name not in signature.parameters:
        return handler

    @functools.wraps(handler)
    async def narrowed(**arguments: Any) -> Any:
        return await handler(**arguments)

    kept = [parameter for parameter in signature.parameters.values() if parameter.name != name]
    narrowed.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    return narrowed


def to_yaml(documents: list[dict[str, Any]]) -> str:
    import yaml

    return str(yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, allow_unicode=True))

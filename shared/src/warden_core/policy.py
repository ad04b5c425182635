"""The one place that decides what a caller may do.

At start, `Policy.exposes` filters the tool specs: a tool that is blocked is never registered, so
it is neither listed nor callable on any transport. At call time, `Policy.guard` checks the
resource arguments of a call (repo, namespace, channel, region, ...) against the allowlists before
the handler runs, and `Policy.check` lets a server check resources it discovers itself (the schemas
a SQL statement reads). OAuth scopes are derived here too.
"""

from __future__ import annotations

import contextvars
import fnmatch
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warden_core import audit, identity
from warden_core.auth import Principal
from warden_core.cedar import CedarPolicy, Decision, Resource, entity_type, resources_of
from warden_core.errors import PolicyDenied
from warden_core.settings import CoreSettings, SettingsError
from warden_core.specs import Access, ToolSpec

logger = logging.getLogger(__name__)


_call: contextvars.ContextVar[tuple[ToolSpec, Mapping[str, Any]] | None] = contextvars.ContextVar(
    "warden_call", default=None
)


def current_call() -> tuple[ToolSpec, list[Resource]] | None:
    """The tool being called and the resources its arguments name, once the guard has passed them.

    For a client that scopes its backend credential to the call (a GitHub token for one repository).
    """
    call = _call.get()
    return None if call is None else (call[0], resources_of(*call))


@dataclass(frozen=True)
class Allowlist:
    """Glob patterns (`acme/*`, `C04*`, `eu-*`) naming the resources a server may touch.

    An empty allowlist admits nothing: a resource must be named to be reachable. `*` admits all.

    `gates_writes`: a write tool checked against an empty allowlist of this kind is not registered at
    all (a write needs an explicit target list). False for lists that only narrow a selector, such as
    the Kubernetes contexts, which writes check without needing one of their own.
    """

    setting: str
    patterns: tuple[str, ...]
    case_sensitive: bool = True
    gates_writes: bool = True
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        # Translate globs to one anchored regex: fnmatch would consult the OS's case rules.
        body = "|".join(fnmatch.translate(pattern) for pattern in self.patterns) or "(?!)"
        object.__setattr__(self, "_compiled", re.compile(body, flags))

    def allows(self, value: str) -> bool:
        return bool(self._compiled.fullmatch(value))

    @property
    def configured(self) -> bool:
        return bool(self.patterns)

    @property
    def unrestricted(self) -> bool:
        return "*" in self.patterns

    def require(self, value: str, what: str) -> None:
        """Raise `PolicyDenied` unless `value` is admitted; the message names the setting to change."""
        if not self.allows(value):
            raise PolicyDenied(f"{what} {value!r} is not allowed by this server's policy ({self.setting})")


@dataclass(frozen=True)
class Policy:
    """Built once from the settings; read-only afterwards."""

    read_only: bool
    allow_destructive: bool
    groups: frozenset[str]
    tools: frozenset[str]
    exclude_tools: frozenset[str]
    allowlists: Mapping[str, Allowlist]
    scope_prefix: str = ""
    cedar: CedarPolicy | None = None  # the policy file, when one is configured
    specs: Mapping[str, ToolSpec] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        settings: CoreSettings,
        specs: Sequence[ToolSpec],
        *,
        default_groups: Iterable[str],
        allowlists: Mapping[str, Allowlist] | None = None,
    ) -> Policy:
        """Check the settings against the specs (unknown names stop the start) and build the policy."""
        known_groups = {spec.group for spec in specs}
        known_tools = {spec.name for spec in specs}
        groups = frozenset(settings.groups if settings.groups is not None else default_groups)
        env = type(settings).env_name
        for setting, names, known in (
            ("groups", groups, known_groups),
            ("tools", settings.tools, known_tools),
            ("exclude_tools", settings.exclude_tools, known_tools),
        ):
            unknown = sorted(set(names) - known)
            if unknown:
                raise SettingsError(f"invalid setting {env(setting)}: unknown {unknown}; choose from {sorted(known)}")
        if settings.allow_destructive and settings.read_only:
            raise SettingsError(f"invalid setting {env('allow_destructive')}: it needs {env('read_only')}=false")
        lists = dict(allowlists or {})
        for spec in specs:
            missing = {name for _, name in spec.checked_allowlists} - set(lists)
            if missing:
                raise ValueError(f"tool {spec.name} names allowlists {sorted(missing)} the server did not define")
        return cls(
            read_only=settings.read_only,
            allow_destructive=settings.allow_destructive,
            groups=groups,
            tools=frozenset(settings.tools),
            exclude_tools=frozenset(settings.exclude_tools),
            allowlists=lists,
            scope_prefix=settings.scope_prefix,
            cedar=(
                CedarPolicy(settings.policy_file, server=settings.server_name, shadow=settings.policy_mode == "shadow")
                if settings.policy_file
                else None
            ),
            specs={spec.name: spec for spec in specs},
        )

    # --- Registration filter. --------------------------------------------------------------------
    def hidden_because(self, spec: ToolSpec) -> str | None:
        """Why `spec` is not exposed, or None when it is."""
        if spec.name in self.exclude_tools:
            return "excluded by exclude_tools"
        if self.tools and spec.name not in self.tools:
            return "not listed in tools"
        if spec.group not in self.groups:
            return f"group {spec.group!r} is not enabled"
        if spec.access is not Access.READ and self.read_only:
            return "server is read-only"
        if spec.access is Access.DESTRUCTIVE and not self.allow_destructive:
            return "destructive tools are not allowed"
        if spec.access is not Access.READ:
            # A write needs an explicit target list: an empty write allowlist hides the tool.
            for _, name in spec.checked_allowlists:
                allowlist = self.allowlists[name]
                if allowlist.gates_writes and not allowlist.configured:
                    return f"write allowlist {allowlist.setting} is empty"
        return None

    def exposes(self, spec: ToolSpec) -> bool:
        return self.hidden_because(spec) is None

    # --- Call-time guard. ---------------------------------------------------------------------------
    def guard(self, spec: ToolSpec, arguments: Mapping[str, Any]) -> None:
        """Check every resource argument of a validated call against its allowlist, then the policy file."""
        for argument, allowlist in spec.checked_allowlists:
            value = arguments.get(argument)
            if value is None:
                continue
            values = value if isinstance(value, list | tuple | set | frozenset) else (value,)
            for item in values:
                self.allowlists[allowlist].require(str(item), argument)
        _call.set((spec, arguments))
        if self.cedar is not None:
            self._ask(spec, resources_of(spec, arguments))

    def check(self, allowlist: str, value: str, what: str) -> None:
        """Check a resource the server found itself (e.g. a schema named inside SQL)."""
        self.allowlists[allowlist].require(value, what)
        if self.cedar is not None:
            self.check_resources([Resource(entity_type(allowlist), value)])

    def check_resources(self, resources: Sequence[Resource]) -> None:
        """Ask the policy file about resources a tool discovered itself, for the call being handled."""
        if self.cedar is None or not resources:
            return
        record = audit.current()
        spec = self.specs.get(record.tool or "") if record is not None else None
        if spec is None:
            raise PolicyDenied("the policy file decides per tool, and this request is no tool call")
        self._ask(spec, resources)

    def _ask(self, spec: ToolSpec, resources: Sequence[Resource]) -> None:
        assert self.cedar is not None
        record = audit.current()
        transport = record.transport if record is not None else "memory"
        self.cedar.require(identity.current(), spec, resources, transport, record)

    def decide(self, spec: ToolSpec, arguments: Mapping[str, Any], principal: Principal, transport: str) -> Decision:
        """May `principal` call `spec` with `arguments`? Registration, allowlists and the policy file, no backend."""
        hidden = self.hidden_because(spec)
        if hidden is not None:
            return Decision(False, f"{spec.name} is not exposed: {hidden}")
        try:
            for argument, allowlist in spec.checked_allowlists:
                value = arguments.get(argument)
                for item in value if isinstance(value, list | tuple) else () if value is None else (value,):
                    self.allowlists[allowlist].require(str(item), argument)
        except PolicyDenied as exc:
            return Decision(False, exc.message)
        if self.cedar is None:
            return Decision(True, "allowed by the allowlists (no policy file)")
        decision = Decision(True, "")
        for resource in resources_of(spec, arguments) or (None,):
            decision = self.cedar.decide(principal, spec, resource, transport)
            if not decision.allowed:
                return decision
        return Decision(True, decision.reason, decision.policies)

    def allows(self, allowlist: str, value: str) -> bool:
        return self.allowlists[allowlist].allows(value)

    # --- Scopes. -------------------------------------------------------------------------------------
    def scope_for(self, spec: ToolSpec) -> str:
        return f"{self.scope_prefix}{spec.scope}"

    def scopes_supported(self, specs: Iterable[ToolSpec]) -> list[str]:
        """Every scope an exposed tool can need, in a stable order."""
        return sorted({self.scope_for(spec) for spec in specs if self.exposes(spec)})

    def scope_satisfied(self, granted: Iterable[str], spec: ToolSpec) -> bool:
        """Scopes form a hierarchy per group: `issues:write` also grants `issues:read`.

        `*:<level>` grants that level in every group; API keys carry `*:destructive`.
        """
        for scope in granted:
            if not scope.startswith(self.scope_prefix):
                continue
            group, _, level = scope[len(self.scope_prefix) :].rpartition(":")
            try:
                access = Access(level)
            except ValueError:
                continue
            if group in {spec.group, "*"} and access.covers(spec.access):
                return True
        return False

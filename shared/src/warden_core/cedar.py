"""Policy as code: an optional Cedar policy file, asked by the one gate for every call.

The policy file says which principal may call which tool on which resource. It is asked after the
registration filter and the allowlists (which it can only narrow), before anything reaches a backend,
once per resource the call names (or once for the server itself when it names none), and again
for each resource a tool discovers itself (the tables a SQL statement reads).

The entities Warden builds for each request (namespace `Warden`):

- principal `Warden::User::"<id>"`: `apikey/<name>`, `oauth/<sub>`, `local`, or `user/<id>` for an
  end user named by a trusted gateway; its parents are `Warden::Group::"<group>"` for each group;
  attributes `kind`, `name` (the plain user, key or subject name) and `caller` (who authenticated:
  the gateway, for an end user), and `email` when known;
- action `Warden::Action::"<tool>"`, a member of `Warden::Action::"group:<tool group>"` and of
  `Warden::Action::"access:<read|write|destructive>"`;
- resource `Warden::<Type>::"<value>"` for each resource argument, the type named after its
  allowlist (`Repo`, `Namespace`, `Context`, `Schema`, `Table` in its `Schema`, `Channel`, `Region`,
  `Account`), with the attribute `name`; or `Warden::Server::"warden-<name>"` when there is none;
- context: `transport` (`stdio`, `http`, `memory`), `caller`, `end_user` (bool), `hour` (0-23, UTC)
  and `weekday` (0 is Monday, UTC).

Cedar's own semantics decide: a forbid wins, and without a permit the answer is no. With no policy
file configured nothing here runs, and decisions are exactly the allowlists'. Decisions are cached
per principal, groups, tool, resource, transport and hour, until the file changes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warden_core.auth import Principal
from warden_core.errors import PolicyDenied
from warden_core.settings import SettingsError

if TYPE_CHECKING:
    from warden_core.metrics import Metrics
    from warden_core.specs import ToolSpec

logger = logging.getLogger(__name__)

NAMESPACE = "Warden"
RELOAD_CHECK_SECONDS = 1.0
"""How often the call path looks at the file's modification time (a stat, at most once a second)."""
_CACHE_SIZE = 8192


def entity_type(allowlist: str) -> str:
    """The Cedar type of a resource checked against `allowlist`: `write_repos` -> `Repo`."""
    name = allowlist.removeprefix("write_")
    if name.endswith("ves"):
        name = name[:-3] + "f"  # shelves -> shelf
    elif name.endswith("s"):
        name = name[:-1]
    return "".join(part.capitalize() for part in name.split("_"))


@dataclass(frozen=True)
class Resource:
    """One resource a call touches, as a Cedar entity: `Warden::<type>::"<id>"`, within its parents."""

    type: str
    id: str
    parents: tuple[tuple[str, str], ...] = ()

    def uid(self) -> str:
        return f"{NAMESPACE}::{self.type}::{json.dumps(self.id)}"

    def entity(self) -> dict[str, Any]:
        return {
            "uid": {"type": f"{NAMESPACE}::{self.type}", "id": self.id},
            "attrs": {"name": self.id},
            "parents": [{"type": f"{NAMESPACE}::{t}", "id": i} for t, i in self.parents],
        }

    def __str__(self) -> str:
        return f"{self.type} {self.id!r}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    policies: tuple[str, ...] = ()  # the policies that decided (the forbid that denied, the permits that allowed)


class CedarPolicy:
    """A Cedar policy file, parsed once, reloaded when it changes or on SIGHUP; a bad file keeps the last good one."""

    def __init__(self, path: str, *, server: str, shadow: bool = False) -> None:
        import cedarpy  # only servers with a policy file load the engine

        self._cedar = cedarpy
        self.path = Path(path)
        self.server = server
        self.shadow = shadow
        self.metrics: Metrics | None = None
        self._lock = threading.Lock()
        try:
            self._policies, self._names = self._parse()
        except (OSError, ValueError) as exc:
            raise SettingsError(f"policy file {self.path}: {_first_line(exc)}") from None
        self._stamp = self._stat()
        self._checked = time.monotonic()
        self.healthy = True
        self._cache: dict[tuple[Any, ...], Decision] = {}
        self._actions: dict[str, dict[str, Any]] = {}

    # --- Loading. ------------------------------------------------------------------------------------
    def _parse(self) -> tuple[Any, dict[str, str]]:
        text = self.path.read_text(encoding="utf-8")
        policies = self._cedar.PolicySet.from_str(text)
        parsed = json.loads(self._cedar.policies_to_json_str(text)) if text.strip() else {}
        names = {
            pid: (body.get("annotations") or {}).get("id") or f"{pid} (policy #{int(pid.removeprefix('policy')) + 1})"
            if pid.startswith("policy") and pid.removeprefix("policy").isdigit()
            else pid
            for pid, body in (parsed.get("staticPolicies") or {}).items()
        }
        return policies, names

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self, why: str = "changed") -> bool:
        """Parse the file again; on success it replaces the policy in force, otherwise the last good one stays."""
        with self._lock:
            self._stamp = self._stat()
            try:
                policies, names = self._parse()
            except (OSError, ValueError) as exc:
                self.healthy = False
                self._count("error")
                logger.error(
                    "policy file %s (%s) is invalid, keeping the last good policy: %s", self.path, why, _first_line(exc)
                )
                return False
            self._policies, self._names = policies, names
            self._cache = {}
            self.healthy = True
            self._count("ok")
            logger.info("policy file %s reloaded (%s): %d policies", self.path, why, len(names))
            return True

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.policy_reloads.labels(result).inc()
            self.metrics.policy_healthy.set(1 if self.healthy else 0)

    def maybe_reload(self) -> None:
        """Reload when the file changed on disk; looks at most once a second."""
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return
        self._checked = now
        if self._stat() != self._stamp:
            self.reload("changed on disk")

    # --- Deciding. -------------------------------------------------------------------------------------
    def decide(
        self, principal: Principal, spec: ToolSpec, resource: Resource | None, transport: str, now: float | None = None
    ) -> Decision:
        self.maybe_reload()
        clock = time.gmtime(now)
        target = resource or Resource("Server", f"warden-{self.server}")
        user = principal.end_user
        key = (
            principal.acting_id,
            principal.acting_groups,
            principal.kind,
            principal.id,
            user.email if user else None,
            spec.name,
            target,
            transport,
            clock.tm_hour,
            clock.tm_wday,
        )
        policies, names, cache = self._policies, self._names, self._cache
        found = cache.get(key)
        if found is not None:
            return found
        attrs: dict[str, Any] = {
            "kind": "end_user" if user else principal.kind,
            "name": principal.acting_name,
            "caller": principal.id,
        }
        if user is not None and user.email:
            attrs["email"] = user.email
        entities = [
            {
                "uid": {"type": f"{NAMESPACE}::User", "id": principal.acting_id},
                "attrs": attrs,
                "parents": [{"type": f"{NAMESPACE}::Group", "id": g} for g in sorted(principal.acting_groups)],
            },
            self._action(spec),
            target.entity(),
        ]
        request = {
            "principal": f"{NAMESPACE}::User::{json.dumps(principal.acting_id)}",
            "action": f"{NAMESPACE}::Action::{json.dumps(spec.name)}",
            "resource": target.uid(),
            "context": {
                "transport": transport,
                "caller": principal.id,
                "end_user": user is not None,
                "hour": clock.tm_hour,
                "weekday": clock.tm_wday,
            },
        }
        result = self._cedar.is_authorized(request, policies, entities)
        decided = tuple(names.get(pid, pid) for pid in result.diagnostics.reasons)
        if result.diagnostics.errors:
            logger.warning("policy evaluation errors for %s: %s", spec.name, "; ".join(result.diagnostics.errors))
        if result.allowed:
            decision = Decision(True, "permitted by " + ", ".join(decided), decided)
        elif decided:
            decision = Decision(
                False, f"denied by policy {', '.join(decided)} in {self.path.name} (forbid wins)", decided
            )
        else:
            decision = Decision(False, f"no policy in {self.path.name} permits it")
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = decision
        return decision

    def _action(self, spec: ToolSpec) -> dict[str, Any]:
        action = self._actions.get(spec.name)
        if action is None:
            action = self._actions[spec.name] = {
                "uid": {"type": f"{NAMESPACE}::Action", "id": spec.name},
                "attrs": {},
                "parents": [
                    {"type": f"{NAMESPACE}::Action", "id": f"group:{spec.group}"},
                    {"type": f"{NAMESPACE}::Action", "id": f"access:{spec.access}"},
                ],
            }
        return action

    def require(
        self, principal: Principal, spec: ToolSpec, resources: Sequence[Resource], transport: str, record: Any = None
    ) -> None:
        """Raise `PolicyDenied` unless every resource (or the server, when none) is permitted; in shadow mode, log."""
        for resource in resources or (None,):
            decision = self.decide(principal, spec, resource, transport)
            if decision.allowed:
                continue
            what = f"{principal.acting_id} may not call {spec.name}" + (f" on {resource}" if resource else "")
            if not self.shadow:
                if record is not None:
                    record.policy = ", ".join(decision.policies) or "no permit"
                raise PolicyDenied(f"{what}: {decision.reason}")
            note = f"shadow: would deny ({', '.join(decision.policies) or 'no permit'})"
            if record is not None and record.policy == note:
                continue  # the same call, checked again on its validated arguments
            if record is not None:
                record.policy = note
            if self.metrics is not None:
                self.metrics.policy_shadow_denials.labels(spec.name).inc()
            logger.warning("policy (shadow mode) would deny: %s: %s", what, decision.reason)


def resources_of(spec: ToolSpec, arguments: Any) -> list[Resource]:
    """The resources a call names in its resource arguments, one per value."""
    found: list[Resource] = []
    for argument, allowlist in spec.checked_allowlists:
        value = arguments.get(argument) if hasattr(arguments, "get") else None
        if value is None:
            continue
        values: Iterable[Any] = value if isinstance(value, list | tuple | set | frozenset) else (value,)
        for item in values:
            resource = Resource(entity_type(allowlist), str(item))
            if resource not in found:
                found.append(resource)
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

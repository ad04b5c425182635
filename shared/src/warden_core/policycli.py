"""`warden-<name> policy check`: may this principal call this tool with these arguments? No backend is asked.

    warden-postgres policy check --principal user/alice@example.com --group analysts \
        --tool pg_query --resource 'Table=hr.salaries in Schema=hr'
    warden-github policy check --principal apikey/ci --tool gh_get_repo --arguments '{"repo": "acme/api"}'

It answers from the server's settings exactly as a call would be decided: the registration filter,
the allowlists, then the policy file (`POLICY_FILE`). Prints one JSON object; exits 0 when allowed,
1 when denied, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from warden_core.auth import ALL_SCOPES, LOCAL, Principal
from warden_core.cedar import Resource
from warden_core.identity import EndUser

if TYPE_CHECKING:
    from warden_core.server import WardenServer


def principal_from(text: str, groups: Sequence[str], email: str | None, caller: str) -> Principal:
    """`apikey/<name>`, `oauth/<subject>`, `local`, or `user/<id>` (an end user behind the gateway `caller`)."""
    kind, _, name = text.partition("/")
    if text == "local":
        return LOCAL if not groups else Principal(id="local", kind="local", scopes=ALL_SCOPES, groups=frozenset(groups))
    if kind == "apikey" and name:
        return Principal(id=text, kind="api_key", scopes=ALL_SCOPES, client_id=name, groups=frozenset(groups))
    if kind == "oauth" and name:
        return Principal(id=text, kind="oauth", scopes=ALL_SCOPES, subject=name, groups=frozenset(groups))
    if kind == "user" and name:
        gateway = principal_from(caller, (), None, caller)
        return Principal(
            id=gateway.id,
            kind=gateway.kind,
            scopes=ALL_SCOPES,
            client_id=gateway.client_id,
            end_user=EndUser(id=name, email=email, groups=frozenset(groups)),
        )
    raise ValueError(f"--principal {text!r}: use apikey/<name>, oauth/<subject>, user/<id> or local")


def resource_from(text: str) -> Resource:
    """`Type=id`, optionally `in Parent=id` (`Table=hr.salaries in Schema=hr`)."""
    own, *parents = [part.strip() for part in text.split(" in ")]
    pairs = [part.partition("=") for part in (own, *parents)]
    if any(not sep or not kind or not value for kind, sep, value in pairs):
        raise ValueError(f"--resource {text!r}: use Type=id, optionally followed by ' in Parent=id'")
    (kind, _, value), *rest = pairs
    return Resource(kind, value, tuple((k, v) for k, _, v in rest))


def run(server: WardenServer, argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"{server.name} policy", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("action", choices=["check"])
    parser.add_argument("--principal", default="local", help="apikey/<name>, oauth/<subject>, user/<id> or local")
    parser.add_argument("--group", action="append", default=[], help="a group of the principal (repeat)")
    parser.add_argument("--email", help="the end user's email")
    parser.add_argument("--caller", default="apikey/gateway", help="for user/<id>: the gateway that names them")
    parser.add_argument("--tool", required=True)
    parser.add_argument("--arguments", default="{}", help="the call's arguments, as a JSON object")
    parser.add_argument("--resource", action="append", default=[], help="a resource the tool would discover")
    parser.add_argument("--transport", default="http", choices=["stdio", "http", "memory"])
    args = parser.parse_args(argv)
    try:
        principal = principal_from(args.principal, args.group, args.email, args.caller)
        arguments: Any = json.loads(args.arguments)
        if not isinstance(arguments, dict):
            raise ValueError("--arguments must be a JSON object")
        discovered = [resource_from(text) for text in args.resource]
    except ValueError as exc:
        sys.stderr.write(f"{server.name} policy: {exc}\n")
        return 2
    spec = next((s for s in server.specs if s.name == args.tool), None)
    if spec is None:
        sys.stderr.write(f"{server.name} policy: no tool {args.tool!r}\n")
        return 2
    policy = server.policy
    decision = policy.decide(spec, arguments, principal, args.transport)
    if decision.allowed and policy.cedar is not None:
        for resource in discovered:
            decision = policy.cedar.decide(principal, spec, resource, args.transport)
            if not decision.allowed:
                break
    answer = {
        "allowed": decision.allowed,
        "principal": principal.acting_id,
        "groups": sorted(principal.acting_groups),
        "tool": spec.name,
        "reason": decision.reason,
        "policies": list(decision.policies),
        "policy_file": str(policy.cedar.path) if policy.cedar is not None else None,
    }
    sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    return 0 if decision.allowed else 1

"""The one place that decides whether an AWS operation may run. Every call goes through `decide`.

The decision, in order:
1. the service must be in the service allowlist (`WARDEN_AWS_SERVICES`);
2. every AWS account the request names (an ARN's account field or a bare account id, anywhere in the
   parameters; see `accounts.py`) must be in the account allowlist (`WARDEN_AWS_ACCOUNTS`);
3. the operation must be known to the reviewed classification: unknown means refused;
4. a sensitive operation (credential minting, secrets, data-plane content, presigned URLs), or a read
   whose arguments turn it sensitive (`ssm:GetParameter` with `WithDecryption`), is refused unless the
   operator allowed it (`WARDEN_AWS_ALLOW_SENSITIVE`); an allowed one is answered unmasked;
5. anything that is not a read is refused: this server does not write.

Curated tools may also use a short, fixed list of operations the generic tool refuses: two that are not
classified as reads but change nothing a user owns (starting and stopping a Logs Insights query), and
one sensitive read whose curated tool returns only reviewed fields (`securityhub:GetFindings`: findings
can embed resource details with secret members, such as a VPN tunnel's pre-shared key; the findings
tool never reads `Resources[].Details`, `ProductFields` or `UserDefinedFields`). `aws_call` still
refuses each of them.

Regions are checked by the core (tool arguments) and again on every signed request (see `client.py`);
the credential's own account is checked against STS caller identity before data calls (also in `client.py`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from warden_aws.accounts import named_accounts
from warden_aws.classification import Classification, OperationClass
from warden_core import Allowlist, PolicyDenied

CURATED: Mapping[tuple[str, str], str] = {
    ("logs", "StartQuery"): "starts a Logs Insights query job (reads log events, changes nothing)",
    ("logs", "StopQuery"): "cancels a Logs Insights query this server started",
    ("securityhub", "GetFindings"): "the findings tool returns reviewed fields only, never resource details",
}


@dataclass(frozen=True)
class Decision:
    service: str
    operation: str
    cls: str
    reason: str
    unmask: bool = False
    """True only for a sensitive operation the operator allowed: its answer is returned as is."""


def condition_met(condition: str, params: Mapping[str, Any]) -> bool:
    """Whether the arguments turn a read sensitive: `Flag`, `!Flag` or `Param=value`."""
    if condition.startswith("!"):
        return params.get(condition[1:]) is not True
    name, equals, value = condition.partition("=")
    if equals:
        return str(params.get(name)) == value
    return bool(params.get(name))


_CATEGORIES = {
    "secret-output": "it returns credentials or secrets",
    "content": "it returns data-plane content",
    "presigned-url": "it returns a presigned URL",
}


def explain(reason: str) -> str:
    """A classification reason in words: `secret-output .Credentials.SecretAccessKey` -> prose."""
    text = reason.removeprefix("reviewed ")
    head, _, rest = text.partition(" ")
    if head in _CATEGORIES:
        return f"{_CATEGORIES[head]}: {rest}" if rest else _CATEGORIES[head]
    return text


def describe_condition(condition: str) -> str:
    if condition.startswith("!"):
        return f"unless {condition[1:]} is true"
    name, equals, value = condition.partition("=")
    return f"when {name} is {value!r}" if equals else f"when {name} is true"


class OperationPolicy:
    def __init__(
        self,
        classification: Classification,
        *,
        services: Allowlist,
        accounts: Allowlist,
        allow_sensitive: Allowlist,
    ) -> None:
        self.classification = classification
        self.services = services
        self.accounts = accounts
        self.allow_sensitive = allow_sensitive

    def classify(self, service: str, operation: str, model_operations: Collection[str]) -> OperationClass:
        return self.classification.lookup(service, operation, model_operations)

    def decide(
        self,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        model_operations: Collection[str],
        *,
        curated: bool = False,
    ) -> Decision:
        """Allow the call, or raise `PolicyDenied` naming the reason and the setting that governs it."""
        name = f"{service}:{operation}"
        self.services.require(service, "service")
        self.require_accounts(name, params)
        if curated and (service, operation) in CURATED:
            return Decision(service, operation, "curated", CURATED[(service, operation)])
        found = self.classify(service, operation, model_operations)
        if found.cls == "unknown":
            raise PolicyDenied(f"{name} is not in the reviewed classification ({found.reason}), so it is refused")
        sensitive = found.cls == "sensitive" or (
            found.cls == "read" and found.condition is not None and condition_met(found.condition, params)
        )
        if sensitive:
            if self.allow_sensitive.allows(name):
                return Decision(service, operation, found.cls, found.reason, unmask=True)
            why = (
                explain(found.reason)
                if found.cls == "sensitive"
                else f"it reveals secrets {describe_condition(found.condition or '')}"
            )
            raise PolicyDenied(
                f"{name} is sensitive ({why}) and refused by default; "
                f"an operator can allow it with {self.allow_sensitive.setting}"
            )
        if found.cls != "read":
            raise PolicyDenied(f"{name} is not a read operation, and this server only reads")
        return Decision(service, operation, "read", found.reason)

    def require_accounts(self, name: str, params: Mapping[str, Any]) -> None:
        """Refuse a request that names an AWS account the allowlist does not admit (none is checked with `*`)."""
        if self.accounts.unrestricted:
            return
        for account, where in named_accounts(params):
            if not self.accounts.allows(account):
                raise PolicyDenied(
                    f"{name} names AWS account {account!r} (in {where}), which is not allowed by this "
                    f"server's policy ({self.accounts.setting}); nothing was sent"
                )

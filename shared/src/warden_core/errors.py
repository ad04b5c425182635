"""The one error family every server raises. Each maps to a short, actionable message the model reads.

Servers translate their backend's exceptions into these in their own `errors.py`; nothing else
reaches the client. Anything that is not a `WardenError` is reported as an internal error whose
details stay in the server log.
"""

from __future__ import annotations

from typing import ClassVar

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import ValidationError


class WardenError(ToolError, ResourceError):
    """A failure the caller can act on. `kind` is the stable label used in audit events and metrics.

    Both a `ToolError` and a `ResourceError`: the SDK shows its message to the model whether a tool
    or a resource read raised it.
    """

    kind: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(WardenError):
    """The arguments are well-typed but make no sense to the backend (bad SQL, unknown field)."""

    kind = "invalid_argument"


class NotFound(WardenError, ResourceNotFoundError):
    """The named object does not exist, or the credential cannot see it (-32602 from a resource read)."""

    kind = "not_found"


class PermissionDenied(WardenError):
    """The backend refused: the server's credential lacks the right."""

    kind = "permission_denied"


class PolicyDenied(WardenError):
    """Warden's own policy refused the call before it reached the backend."""

    kind = "policy_denied"


class NotConfigured(WardenError):
    """The server runs without the setting this call needs (discovery works without credentials)."""

    kind = "not_configured"

    def __init__(self, setting: str, what: str, message: str | None = None) -> None:
        super().__init__(message or f"{what} is not configured: set {setting}")
        self.setting = setting


class UpstreamUnavailable(WardenError):
    """The backend cannot be reached, keeps failing, or its circuit breaker is open."""

    kind = "upstream_unavailable"


class RateLimited(WardenError):
    """Too many calls: either Warden's own limit or the backend's. Says when to retry."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(f"{message}; retry after {max(1, round(retry_after))} s")
        self.retry_after = retry_after


class Timeout(WardenError):
    """The call hit its deadline; the backend work was cancelled."""

    kind = "timeout"


def invalid_arguments(exc: ValidationError) -> str:
    """What was wrong with a call's arguments, one clause per problem, without the values (the
    caller's data) and without pydantic's layout and documentation links."""
    clauses = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            clauses.append(f"`{where}` is required")
        elif error["type"] == "extra_forbidden":
            clauses.append(f"`{where}` is not an argument of this tool")
        else:
            message = str(error["msg"])
            message = message[:1].lower() + message[1:]
            clauses.append(f"`{where}`: {message}" if where else message)
    return "invalid arguments: " + "; ".join(clauses)

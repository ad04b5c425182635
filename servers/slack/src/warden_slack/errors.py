"""Slack's errors, mapped to the core error family with messages the model (and its user) can act on.

Slack answers most failures with HTTP 200 and `{"ok": false, "error": "<code>"}`; throttling is an
HTTP 429 with `Retry-After`. Codes are short machine words, but they still come from the network,
so only well-formed codes are echoed.
"""

from __future__ import annotations

import re
from typing import Any

from warden_core.errors import InvalidArgument, NotFound, PermissionDenied, RateLimited, WardenError
from warden_core.resilience import Retryable, connection_failure

_CODE = re.compile(r"^[a-z0-9_.]{1,64}$")
_SCOPES = re.compile(r"^[a-z0-9_.:,]{1,200}$")

_AUTH = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission"})
_TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
_BAD_ARGUMENT = frozenset(
    {
        "invalid_cursor",
        "invalid_ts_latest",
        "invalid_ts_oldest",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_name",
        "invalid_limit",
        "msg_too_long",
        "no_text",
        "too_many_reactions",
        "bad_timestamp",
    }
)


class MissingScope(PermissionDenied):
    """The token lacks an OAuth scope; `needed` names it (comma-separated when Slack lists several)."""

    def __init__(self, message: str, *, needed: str) -> None:
        super().__init__(message)
        self.needed = needed


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header (any case; the SDK hands headers as str or [str])."""
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return max(0.0, float(str(raw).strip()))
            except ValueError:
                return None
    return None


def error_code(data: Any) -> str:
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and _CODE.match(code) else "unknown_error"


def from_slack(exc: Exception, *, method: str, token_setting: str, what: str = "") -> Exception:
    """Translate a `SlackApiError` for `method` into a Warden error (or a `Retryable`).

    The result carries Slack's code as `slack_code`, for the few callers that treat one as success.
    """
    mapped = _map(exc, method=method, token_setting=token_setting, what=what)
    mapped.slack_code = error_code(getattr(getattr(exc, "response", None), "data", None))  # type: ignore[attr-defined]
    return mapped


def _map(exc: Exception, *, method: str, token_setting: str, what: str) -> Exception:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", 200)
    data = getattr(response, "data", None)
    code = error_code(data)
    subject = what or method
    if status == 429 or code == "ratelimited":
        wait = retry_after(getattr(response, "headers", None))
        return RateLimited(f"Slack is rate-limiting {method}", 1.0 if wait is None else wait)
    if status >= 500 or code in _TRANSIENT:
        return Retryable(f"Slack answered {method} with {code if code != 'unknown_error' else f'HTTP {status}'}")
    if code == "missing_scope":
        needed = data.get("needed") if isinstance(data, dict) else None
        scope = needed if isinstance(needed, str) and _SCOPES.match(needed) else "an extra scope"
        return MissingScope(
            f"the Slack token in {token_setting} lacks the scope {scope} that {method} needs; "
            "add it to the Slack app's OAuth scopes and reinstall the app",
            needed=scope if scope != "an extra scope" else "",
        )
    if code == "not_allowed_token_type":
        return PermissionDenied(f"Slack does not accept the token in {token_setting} for {method}")
    if code in _AUTH:
        return PermissionDenied(f"Slack rejected the token in {token_setting} ({code}); check or replace it")
    if code == "not_in_channel":
        return PermissionDenied(
            f"the Slack app is not a member of {subject}; invite it there (/invite @your-app) to read or post"
        )
    if code == "channel_not_found":
        return NotFound(f"{subject} was not found, or the Slack app cannot see it (private channels need an invite)")
    if code in {"thread_not_found", "message_not_found"}:
        return NotFound(f"that message was not found in {subject}")
    if code in {"user_not_found", "users_not_found"}:
        return NotFound("no Slack user matches")
    if code in {"is_archived", "restricted_action", "cant_post", "not_allowed", "ekm_access_denied", "access_denied"}:
        return PermissionDenied(f"Slack refused {method} on {subject} ({code})")
    if code in _BAD_ARGUMENT:
        return InvalidArgument(f"Slack refused the arguments of {method} ({code})")
    return InvalidArgument(f"Slack refused {method} ({code})")


def transport_failure(exc: BaseException, method: str) -> Exception:
    """A network-level failure (reset, refused, TLS, timeout) is transient."""
    if isinstance(exc, WardenError):
        return exc
    reason = connection_failure(exc) or f"the connection failed ({type(exc).__name__})"
    return Retryable(f"cannot reach Slack for {method}: {reason}")

"""GitHub's failures, translated into the core's error family.

The rules: 404 is "not found (or the token cannot see it)"; 401 and a plain 403 are the token's
fault; 422/409/400 are the caller's; 5xx and broken connections are transient (`Retryable`).
Rate limits are special: GitHub says when to come back (Retry-After, or the reset time of the
primary limit). A wait the core may honour (up to its Retry-After cap) becomes `Retryable` with
that delay; a longer one fails at once with `RateLimited`, since waiting would only burn the
call's deadline.
"""

from __future__ import annotations

import time
from typing import Any

from warden_core import InvalidArgument, NotFound, PermissionDenied, PolicyDenied, RateLimited, Retryable, WardenError
from warden_core.resilience import connection_failure
from warden_core.text import strip_invisible

# Secondary limits without a Retry-After: GitHub asks clients to wait at least a minute.
SECONDARY_DEFAULT_WAIT = 60.0

_SECONDARY_HINTS = ("secondary rate limit", "abuse detection", "retry your request again later")


def _header(headers: dict[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _message(data: Any) -> str:
    """GitHub's own explanation, made safe to show: plain text, one line, bounded."""
    if not isinstance(data, dict):
        return ""
    message = str(data.get("message") or "")
    details = [
        str(error.get("message") or error.get("code") or "")
        for error in data.get("errors") or ()
        if isinstance(error, dict)
    ]
    text = "; ".join(part for part in [message, *details] if part)
    return " ".join(strip_invisible(text).split())[:300]


class Redirected(Exception):
    """GitHub answered with a redirect, which was not followed: the client decides where a request may go."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"HTTP {status} to {location}")
        self.status = status
        self.location = location  # absolute


def rate_limit_wait(status: int, headers: dict[str, Any] | None, data: Any) -> float | None:
    """Seconds GitHub asks us to wait, if this response is a rate limit; None otherwise."""
    if status not in (403, 429):
        return None
    retry_after = _header(headers, "retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return SECONDARY_DEFAULT_WAIT
    if _header(headers, "x-ratelimit-remaining") == "0":
        reset = _header(headers, "x-ratelimit-reset")
        try:
            return max(1.0, float(reset) - time.time()) if reset else SECONDARY_DEFAULT_WAIT
        except ValueError:
            return SECONDARY_DEFAULT_WAIT
    text = _message(data).lower()
    if "rate limit" in text or any(hint in text for hint in _SECONDARY_HINTS):
        return SECONDARY_DEFAULT_WAIT
    return 60.0 if status == 429 else None


def from_status(status: int, headers: dict[str, Any] | None, data: Any, what: str, retry_after_cap: float) -> Exception:
    """The exception to raise for an HTTP error answer about `what` (e.g. "issue #4 in acme/api")."""
    wait = rate_limit_wait(status, headers, data)
    if wait is not None:
        if wait <= retry_after_cap:
            return Retryable("GitHub rate limit", retry_after=wait)
        return RateLimited("GitHub is rate-limiting this server's token", wait)
    message = _message(data)
    said = f": {message}" if message else ""
    if status in {404, 410}:
        return NotFound(f"{what} was not found (or this server's token cannot see it)")
    if status == 401:
        return PermissionDenied("GitHub rejected this server's token (401); check WARDEN_GITHUB_TOKEN")
    if status == 403:
        return PermissionDenied(f"GitHub refused access to {what} for this server's token{said}")
    if status in (400, 409, 422):
        return InvalidArgument(f"GitHub could not process the request for {what}{said}")
    if status >= 500:
        return Retryable(f"GitHub answered {status}")
    return WardenError(f"GitHub answered {status} for {what}{said}")


def from_exception(exc: BaseException, what: str, retry_after_cap: float) -> BaseException:
    """Map an exception raised by PyGithub or requests (in the worker thread) to the core's family."""
    from requests import exceptions as rex

    from github import GithubException

    if isinstance(exc, Redirected):
        return PolicyDenied(
            f"GitHub redirected the request for {what} elsewhere; only a move to an allowed repository is followed, "
            "so it was not"
        )
    if isinstance(exc, GithubException):
        return from_status(exc.status, exc.headers, exc.data, what, retry_after_cap)
    if isinstance(exc, rex.Timeout):
        return TimeoutError("GitHub did not answer in time")
    if isinstance(exc, rex.ChunkedEncodingError):
        return Retryable("its answer was cut off (the connection closed mid-answer)")
    if isinstance(exc, rex.ConnectionError | ConnectionError):
        return Retryable(f"cannot reach GitHub: {connection_failure(exc) or 'the connection failed'}")
    return exc

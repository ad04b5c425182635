"""Map what the kubernetes client raises to the core error family.

Transient trouble (connection refused or reset, 5xx, 429) becomes `Retryable` so the core retries
it and counts it towards the circuit breaker; a read timeout becomes `TimeoutError` for the same
reason. Everything else becomes a `WardenError` with a short message the model can act on. The
API server's own message is kept (it says which verb, resource and namespace were refused), but
sanitized and bounded.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from warden_core import InvalidArgument, NotConfigured, NotFound, PermissionDenied, Retryable, UpstreamUnavailable
from warden_core.errors import network_reason
from warden_core.text import strip_invisible
from warden_kubernetes.masking import Masker

logger = logging.getLogger(__name__)

_MAX_MESSAGE = 300


def status_message(body: Any, masker: Masker) -> str:
    """The `message` of a Kubernetes Status body, sanitized; empty when there is none."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return ""
    if not isinstance(body, dict):
        return ""
    message = str(body.get("message") or "")
    return masker.text(strip_invisible(message))[:_MAX_MESSAGE]


def retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def from_status(status: int, body: Any, headers: Any, what: str, masker: Masker) -> Exception:
    """The error for an HTTP status other than 2xx from the API server."""
    message = status_message(body, masker)
    detail = f": {message}" if message else ""
    if status == 404:
        return NotFound(f"{what} was not found{detail}")
    if status in (401,):
        return PermissionDenied(
            "the API server rejected this server's credential (401 Unauthorized); "
            "check the kubeconfig or ServiceAccount token"
        )
    if status == 403:
        return PermissionDenied(f"the server's Kubernetes identity may not read {what} (403 Forbidden){detail}")
    if status == 410:
        return InvalidArgument(f"the listing expired on the API server; start again without a cursor{detail}")
    if status == 429:
        return Retryable("the API server is throttling requests (429)", retry_after=retry_after(headers) or 1.0)
    if status >= 500:
        return Retryable(f"the API server answered {status}{detail}", retry_after=retry_after(headers))
    if status in (400, 405, 406, 409, 415, 422):
        return InvalidArgument(f"the API server refused the request for {what} ({status}){detail}")
    return UpstreamUnavailable(f"the API server answered {status} for {what}{detail}")


def from_exception(exc: BaseException, what: str, masker: Masker) -> BaseException:
    """The error for an exception raised by the client or urllib3 while talking to the API server."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3 import exceptions as u3

    if isinstance(exc, ApiException):
        if exc.status == 0:  # the client's own wrapper for TLS failures
            return UpstreamUnavailable(
                "cannot establish a TLS connection to the API server; check the CA and server URL"
            )
        return from_status(int(exc.status or 0), exc.body, exc.headers, what, masker)
    if isinstance(exc, ConfigException):
        logger.warning("kubernetes configuration could not be loaded: %s", masker.text(str(exc)))
        return NotConfigured("WARDEN_KUBERNETES_KUBECONFIG", "a usable Kubernetes credential")
    if isinstance(exc, u3.NewConnectionError):  # a subclass of ConnectTimeoutError in urllib3 2
        return Retryable(f"cannot reach the API server: {network_reason(exc)}")
    if isinstance(exc, u3.ReadTimeoutError | u3.ConnectTimeoutError):
        return TimeoutError("the API server did not answer in time")
    if isinstance(exc, u3.SSLError):
        return UpstreamUnavailable("TLS to the API server failed; check the CA and server URL")
    if isinstance(exc, u3.HTTPError | ConnectionError | OSError):
        return Retryable(f"cannot reach the API server: {network_reason(exc)}")
    return exc

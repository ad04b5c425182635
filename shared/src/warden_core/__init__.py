"""warden_core (distribution lpwarden-core): the kernel every Warden server is built on.

A server describes its tools as `ToolSpec`s, its settings as a `CoreSettings` subclass and its
resource allowlists as `Allowlist`s, then hands them to `WardenServer`. Policy, auth, audit,
limits, resilience and both transports come from here.
"""

from warden_core.caps import Budget, json_size, truncate_text
from warden_core.cli import Flag, ServerApp
from warden_core.errors import (
    InvalidArgument,
    NotConfigured,
    NotFound,
    PermissionDenied,
    PolicyDenied,
    RateLimited,
    Timeout,
    UpstreamUnavailable,
    WardenError,
)
from warden_core.policy import Allowlist, Policy
from warden_core.resilience import Backend, Retryable
from warden_core.server import WardenServer
from warden_core.settings import CommaList, CoreSettings, SecretList, SettingsError
from warden_core.specs import Access, ToolSpec
from warden_core.text import strip_invisible

__version__ = "0.1.0"

__all__ = [
    "Access",
    "Allowlist",
    "Backend",
    "Budget",
    "CommaList",
    "CoreSettings",
    "Flag",
    "InvalidArgument",
    "NotConfigured",
    "NotFound",
    "PermissionDenied",
    "Policy",
    "PolicyDenied",
    "RateLimited",
    "Retryable",
    "SecretList",
    "ServerApp",
    "SettingsError",
    "Timeout",
    "ToolSpec",
    "UpstreamUnavailable",
    "WardenError",
    "WardenServer",
    "json_size",
    "strip_invisible",
    "truncate_text",
]

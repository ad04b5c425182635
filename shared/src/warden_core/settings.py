"""Typed settings, read once from the environment at start and frozen.

Every server subclasses `CoreSettings` with its own env prefix (`WARDEN_POSTGRES_`, ...). Lists are
comma-separated in the environment. Secrets are `SecretStr` and are registered with the redaction
filter the moment they load, so they are masked in every sink from then on. An invalid value stops
the process with one line naming the setting; values are never echoed, since they may be secrets.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from warden_core import detector, redaction


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or value.endswith("://"):
        raise ValueError("must be an http(s) URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""A URL kept exactly as written: issuers and resource ids are compared as strings, slash and all."""


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _api_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.username or parts.password or parts.query or parts.fragment or not parts.hostname:
        raise ValueError("must be a plain base URL, without credentials, query or fragment")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname)):
        raise ValueError("must use https (plain http is accepted only for a loopback address, in tests)")
    return value


ApiBaseUrl = Annotated[str, AfterValidator(_api_base_url)]
"""A backend's API base URL: https and no credentials; plain http only on loopback (test fakes)."""

_RATE = re.compile(r"^\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?\s*$", re.IGNORECASE)


def _rate(value: str) -> str:
    if not _RATE.match(value):
        raise ValueError("must look like `120/minute` (per second, minute, hour or day)")
    return value


Rate = Annotated[str, AfterValidator(_rate)]
"""A URL kept exactly as written: issuers and resource ids are compared as strings, slash and all."""

CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]
"""A list setting written `a,b,c` in the environment."""

SecretList = Annotated[tuple[SecretStr, ...], NoDecode, BeforeValidator(_split_commas)]


class SettingsError(Exception):
    """Configuration that cannot work. The message is one line and names the setting."""


@dataclass(frozen=True)
class SettingDoc:
    """One setting as an operator sees it: its variable, default (as the environment spells it) and meaning."""

    field: str
    env: str
    default: str
    description: str
    required: bool
    secret: bool


def env_value(value: Any, *, with_secrets: bool) -> str:
    """A setting's value written the way the environment spells it (secrets as a placeholder unless asked)."""
    if isinstance(value, tuple):
        return ",".join(env_value(item, with_secrets=with_secrets) for item in value)
    if isinstance(value, SecretStr):
        return value.get_secret_value() if with_secrets else "<set this secret here>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _is_secret(annotation: Any) -> bool:
    return "SecretStr" in str(annotation)


class CoreSettings(BaseSettings):
    """What every Warden server can be told. Subclasses add their backend's settings."""

    # An empty variable counts as unset (`FOO=` in an env file keeps the default, rather than meaning "none").
    model_config = SettingsConfigDict(
        env_prefix="WARDEN_", frozen=True, extra="ignore", env_file=None, env_ignore_empty=True
    )

    # Name of the server ("postgres"), used in messages, metrics and audit events.
    server_name: ClassVar[str] = "core"
    default_port: ClassVar[int] = 8000
    # Settings without which the server still starts and lists its tools, but no call can work.
    required: ClassVar[tuple[str, ...]] = ()

    # --- Exposure: which tools exist at all. -------------------------------------------------
    read_only: bool = Field(True, description="Expose only read tools. Set false to allow write tools.")
    allow_destructive: bool = Field(False, description="Also expose destructive tools (needs read_only=false).")
    groups: CommaList | None = Field(None, description="Tool groups to enable; unset means the server's defaults.")
    tools: CommaList = Field((), description="If set, only these tools are exposed.")
    exclude_tools: CommaList = Field((), description="Tools never exposed; wins over everything else.")

    # --- Transport. ------------------------------------------------------------------------------
    transport: Literal["stdio", "http"] = Field("stdio", description="stdio for desktop clients, http for services.")
    host: str = Field("127.0.0.1", description="Address to bind in HTTP mode.")
    port: int | None = Field(None, ge=1, le=65535, description="Port to bind in HTTP mode.")
    public_url: HttpUrl | None = Field(
        None, description="The URL clients use for /mcp, e.g. https://mcp.example.com/mcp (OAuth resource id)."
    )
    allowed_hosts: CommaList = Field((), description="Extra Host header values accepted (host:port, * port ok).")
    allowed_origins: CommaList = Field((), description="Browser Origins accepted (scheme://host:port).")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest HTTP request body accepted.")
    stateless_http: bool = Field(
        False, description="Serve handshake-era clients without sessions (for replicas without sticky routing)."
    )
    header_timeout: float = Field(10.0, gt=0, description="Seconds a client has to send its request headers.")
    body_timeout: float = Field(15.0, gt=0, description="Seconds a client has to send its request body.")
    max_connections: int = Field(512, ge=1, description="Concurrent HTTP connections before answering 503.")

    # --- Authentication (HTTP only). ----------------------------------------------------------
    api_keys: SecretList = Field(
        (), description="Static API keys: `name:sha256:<hex>` (preferred) or `name:<key>`; comma-separated."
    )
    oauth_issuer: HttpUrl | None = Field(None, description="OAuth authorization server that issues tokens.")
    oauth_jwks_url: HttpUrl | None = Field(None, description="JWKS URL of the issuer (never taken from tokens).")
    oauth_audience: str | None = Field(None, description="Expected `aud`; defaults to public_url.")
    oauth_algorithms: CommaList = Field(("RS256", "ES256", "PS256", "EdDSA"), description="Accepted JWT algorithms.")
    scope_prefix: str = Field("", description="Prefix of Warden scopes at your IdP, e.g. `warden-postgres.`.")

    oauth_groups_claim: str | None = Field(
        "groups", description="Token claim holding the caller's groups (dotted for nested: `realm_access.roles`)."
    )

    # --- Identity: end users behind gateways, and policy as code. -------------------------------------
    trusted_gateways: CommaList = Field(
        (), description="API key names or OAuth client ids that may name the end user they call for."
    )
    gateway_claims_secret: SecretStr | None = Field(
        None, description="ContextForge's IDENTITY_CLAIMS_SECRET: when set, end-user headers must carry its HMAC."
    )
    identity_assertion_header: str = Field(
        "X-Forwarded-User-Assertion", description="Header carrying a gateway's signed end-user assertion (a JWT)."
    )
    identity_assertion_key: str | None = Field(
        None, description="PEM public key verifying end-user assertions; when set, only assertions name end users."
    )
    identity_assertion_jwks_url: HttpUrl | None = Field(
        None, description="JWKS verifying end-user assertions (instead of a key); only assertions name end users."
    )
    identity_assertion_issuer: str | None = Field(None, description="Required `iss` of end-user assertions.")
    identity_assertion_audience: str | None = Field(
        None, description="Required `aud` of end-user assertions; defaults to public_url."
    )
    policy_file: str | None = Field(
        None, description="Cedar policy file deciding per principal, tool and resource; unset: no such policy."
    )
    policy_mode: Literal["enforce", "shadow"] = Field(
        "enforce", description="`shadow` logs what the policy file would deny, without denying it."
    )

    # --- Limits. --------------------------------------------------------------------------------
    rate_limit: Rate = Field("120/minute", description="Calls per principal per tool (`N/second|minute|hour`).")
    rate_limit_storage: SecretStr = Field(
        SecretStr("memory://"), description="`memory://`, or `redis://host:6379/0` to share limits across replicas."
    )
    max_inflight_per_principal: int = Field(16, ge=1, description="Concurrent calls one principal may have.")
    call_timeout: float = Field(60.0, gt=0, description="Deadline of a whole tool call, in seconds.")
    # 32 KiB of JSON is roughly 8k to 16k tokens: well inside what clients accept in one result (Claude Code
    # stops at 25k tokens, and some clients forward both the text and the structured copy). Lists page past it.
    max_output_bytes: int = Field(32_768, ge=1024, description="Largest tool result, in bytes, before truncation.")

    # --- Backend resilience. ------------------------------------------------------------------------------
    backend_timeout: float = Field(20.0, gt=0, description="Deadline of one backend request, in seconds.")
    backend_attempts: int = Field(3, ge=1, le=10, description="Attempts for a retryable backend read.")
    breaker_threshold: int = Field(5, ge=1, description="Consecutive backend failures that open the breaker.")
    breaker_reset: float = Field(
        30.0,
        gt=0,
        description="Longest wait, in seconds, between trial calls while the breaker is open "
        "(the first trial comes after 1 s, and the wait doubles every two failed trials).",
    )
    retry_after_cap: float = Field(30.0, ge=0, description="Longest Retry-After from a backend that is honoured.")

    # --- Audit and logs. ------------------------------------------------------------------------------------------
    audit_sink: str = Field("stderr", description="`stderr`, or a file path for JSON-lines audit events.")
    audit_key: SecretStr | None = Field(None, description="HMAC key for argument digests; share it across replicas.")
    audit_arguments: bool = Field(False, description="Also record argument values (redacted) in audit events.")
    audit_fail_closed: bool = Field(True, description="Refuse calls while the audit sink cannot be written.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe log lines written to stderr: DEBUG, INFO, WARNING or ERROR."
    )

    # --- Egress: secrets masked in every answer, log line, audit event and error. ---------------------------
    egress_patterns_file: Path | None = Field(
        None,
        description="TOML file of extra secrets to mask everywhere: `values = [...]` (exact values) and "
        "`[[pattern]]` tables with `kind` and an RE2 `regex`.",
    )
    egress_disable: CommaList = Field(
        (),
        description="Kinds of secret this server does not mask in its answers, e.g. `jwt,url-token` "
        "(logs and errors stay masked). Default: every kind is masked.",
    )

    # --- Lifecycle. ------------------------------------------------------------------------------------------
    drain_seconds: float = Field(
        20.0,
        ge=0,
        description="On SIGTERM, the process exits within this many seconds; calls still running in its last "
        "quarter (at most 5 s) are stopped with a clean error.",
    )
    request_state_keys: SecretList = Field(
        (), description="Keys (32+ bytes) sealing confirmation state; replicas must share them."
    )
    metrics_public: bool = Field(False, description="Serve /metrics without authentication.")

    @model_validator(mode="after")
    def _register_secrets(self) -> Self:
        for value in self._secret_values():
            redaction.register_secret(value)
        return self

    @field_validator("egress_patterns_file")
    @classmethod
    def _load_egress_patterns(cls, path: Path | None) -> Path | None:
        if path is not None:
            rules, values = detector.load_patterns(path)
            detector.REGISTRY.add_rules(rules)
            for value in values:
                redaction.register_secret(value)
        return path

    @model_validator(mode="after")
    def _check_egress_disable(self) -> Self:
        known = {*detector.KINDS, *detector.REGISTRY.extra_kinds()}
        unknown = [kind for kind in self.egress_disable if kind not in known]
        if unknown:
            raise ValueError(
                f"{type(self).env_name('egress_disable')}: unknown kind {unknown[0]!r}; "
                "the kinds are listed in the README (Secrets and egress)"
            )
        return self

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        from warden_core.auth import parse_api_key  # auth builds on settings, so import at use

        for entry in keys:
            parse_api_key(entry.get_secret_value())
        return keys

    @field_validator("oauth_algorithms")
    @classmethod
    def _check_algorithms(cls, algorithms: tuple[str, ...]) -> tuple[str, ...]:
        # Shared-secret (HS*) algorithms would let anyone holding the public key mint tokens.
        if any(alg.upper().startswith("HS") or alg.lower() == "none" for alg in algorithms):
            raise ValueError("only asymmetric algorithms are accepted")
        return algorithms

    @field_validator("request_state_keys")
    @classmethod
    def _check_request_state_keys(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(key.get_secret_value().encode()) < 32 for key in keys):
            raise ValueError("each key must be at least 32 bytes")
        return keys

    @model_validator(mode="after")
    def _check_oauth(self) -> Self:
        env = type(self).env_name
        if self.oauth_issuer is not None and self.oauth_jwks_url is None:
            raise ValueError(f"{env('oauth_jwks_url')} is required with {env('oauth_issuer')}")
        if self.oauth_issuer is not None and self.public_url is None and self.oauth_audience is None:
            raise ValueError(f"{env('public_url')} (or {env('oauth_audience')}) is required with {env('oauth_issuer')}")
        return self

    def _secret_values(self) -> list[str]:
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            items = value if isinstance(value, tuple) else (value,)
            for item in items:
                if isinstance(item, SecretStr):
                    secret = item.get_secret_value()
                    values.append(secret)
                    # An API key entry is `name:key`: the key part alone must be masked too.
                    if name == "api_keys" and ":" in secret:
                        values.append(secret.split(":", 1)[1])
        return values

    # --- Derived. ----------------------------------------------------------------------------
    @property
    def bind_port(self) -> int:
        return self.port or self.default_port

    @property
    def auth_configured(self) -> bool:
        return bool(self.api_keys) or self.oauth_issuer is not None

    @property
    def binds_loopback(self) -> bool:
        return is_loopback(self.host)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets `field`, for messages that tell the operator what to set."""
        prefix = cls.model_config.get("env_prefix", "")
        return f"{prefix}{field}".upper()

    def missing(self) -> tuple[str, ...]:
        """The required settings that are not set (a server may know other ways to satisfy one)."""
        return tuple(name for name in self.required if getattr(self, name) in (None, (), ""))

    @classmethod
    def settings(cls) -> list[SettingDoc]:
        """Every setting, documented from its field: server-specific ones first, then the core's."""
        own = [name for name in cls.model_fields if name not in CoreSettings.model_fields]
        docs = []
        for name in own + list(CoreSettings.model_fields):
            field = cls.model_fields[name]
            default = cls.default_port if name == "port" else field.get_default(call_default_factory=True)
            docs.append(
                SettingDoc(
                    field=name,
                    env=cls.env_name(name),
                    default="" if default is None else env_value(default, with_secrets=True),
                    description=field.description or "",
                    required=name in cls.required,
                    secret=_is_secret(field.annotation),
                )
            )
        return docs

    @classmethod
    def unknown_variables(cls) -> list[str]:
        """One line per `WARDEN_<NAME>_*` variable in the environment that is no setting of this server,
        naming the closest one: a misspelled setting would otherwise be ignored without a word."""
        prefix = cls.env_name("")
        known = [name.upper() for name in cls.model_fields]
        lines = []
        for variable in sorted(name.upper() for name in os.environ if name.upper().startswith(prefix)):
            if variable.removeprefix(prefix) in known:
                continue
            close = difflib.get_close_matches(variable.removeprefix(prefix), known, n=1, cutoff=0.6)
            hint = f"did you mean {prefix}{close[0]}?" if close else f"see warden-{cls.server_name} --help"
            lines.append(f"{variable} is not a setting and is ignored ({hint})")
        return lines

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Read the environment once. Raises `SettingsError` with one line naming the bad setting."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            error = exc.errors(include_input=False, include_url=False)[0]
            field = ".".join(str(part) for part in error["loc"] if isinstance(part, str))
            message = str(error["msg"]).removeprefix("Value error, ")
            # Cross-field checks name their variables themselves.
            raise SettingsError(f"invalid setting {cls.env_name(field)}: {message}" if field else message) from None

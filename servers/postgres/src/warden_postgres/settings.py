"""Settings of warden-postgres, read once from `WARDEN_POSTGRES_*` environment variables."""

from __future__ import annotations

import json
import re
from typing import ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from warden_core import Allowlist, CommaList, CoreSettings, redaction

DATABASE_NAME = r"^[a-z][a-z0-9_]{0,62}$"
"""How a configured database is named in tool calls (`main`, `sales`, `eu_reporting`)."""

MAIN = "main"
"""The name under which WARDEN_POSTGRES_DSN is served."""

_GLOB = re.compile(r"[*?\[]")


def _check_dsn(dsn: str, what: str) -> None:
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"{what} must be a postgresql:// URL")


def _dsn_secrets(dsn: str) -> list[str]:
    """The password inside a DSN (user:password@ or ?password=), to be masked on its own too."""
    parts = urlsplit(dsn)
    found = [parts.password] if parts.password else []
    found += [value for key, value in parse_qsl(parts.query) if key.lower() in {"password", "sslpassword"}]
    return [value for value in found if value]


class Settings(CoreSettings):
    """warden-postgres: read-only PostgreSQL for AI agents."""

    model_config = SettingsConfigDict(env_prefix="WARDEN_POSTGRES_")  # the rest is inherited from CoreSettings
    server_name: ClassVar[str] = "postgres"
    default_port: ClassVar[int] = 8101
    required: ClassVar[tuple[str, ...]] = ("dsn",)

    dsn: SecretStr | None = Field(None, description="postgresql:// URL of the database, served under the name `main`.")
    databases: SecretStr | None = Field(
        None,
        description='More databases as a JSON object of name to URL, e.g. {"sales": "postgresql://..."}.',
    )
    default_database: str | None = Field(
        None,
        pattern=DATABASE_NAME,
        description="Database used when a call names none: `main` if DSN is set, else the first of DATABASES.",
    )
    schemas: CommaList = Field(
        ("public",),
        description="Schemas (glob patterns) the tools may see and queries may read; `*` admits all.",
    )
    max_rows: int = Field(1000, ge=1, le=100_000, description="Most rows one query returns.")
    max_value_bytes: int = Field(
        65_536, ge=256, le=16_777_216, description="Largest single value returned; bigger values come back null."
    )
    statement_timeout: float = Field(
        15.0, gt=0, le=86_400, description="Server-side statement_timeout of every statement, in seconds."
    )
    lock_timeout: float = Field(2.0, gt=0, le=3600, description="Server-side lock_timeout, in seconds.")
    idle_in_transaction_timeout: float = Field(
        10.0, gt=0, le=3600, description="Server-side idle_in_transaction_session_timeout, in seconds."
    )
    connect_timeout: float = Field(5.0, gt=0, le=120, description="Seconds to open one database connection.")
    pool_size: int = Field(4, ge=1, le=100, description="Most connections per database.")
    strict_role: bool = Field(
        False, description="Refuse to serve a database whose role can write, owns objects or is privileged."
    )
    role_map: CommaList = Field(
        (),
        description="Per-principal database roles: `group:analysts=analyst_ro,principal:apikey/ci=ci_ro,*=base_ro`; "
        "each session switches to the first match (SET LOCAL ROLE), so the database's own grants decide. "
        "Every role must be granted to the login role. Unset: every call runs as the login role.",
    )
    explain_analyze: bool = Field(
        False, description="Allow EXPLAIN ANALYZE, which runs the statement (still read-only and rolled back)."
    )
    allowed_functions: CommaList = Field(
        (),
        description=(
            "Functions that are not built in but may run (`schema.name`, `*` and `?` wildcards): extension and user "
            "functions are refused unless listed."
        ),
    )
    unsafe_allow_superuser: bool = Field(
        False, description="Serve a database whose role is a superuser (refused otherwise: it can undo every check)."
    )

    def missing(self) -> tuple[str, ...]:
        return () if self.databases is not None else super().missing()  # DATABASES alone will do too

    @field_validator("dsn")
    @classmethod
    def _valid_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_dsn(value.get_secret_value(), "the DSN")
        return value

    @field_validator("databases")
    @classmethod
    def _valid_databases(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        try:
            parsed = json.loads(value.get_secret_value())
        except ValueError:
            raise ValueError("must be a JSON object of database name to postgresql:// URL") from None
        if not isinstance(parsed, dict) or not parsed:
            raise ValueError("must be a non-empty JSON object of database name to postgresql:// URL")
        for name, dsn in parsed.items():
            if not re.match(DATABASE_NAME, name):
                raise ValueError(f"database name {name!r} must match {DATABASE_NAME}")
            if not isinstance(dsn, str):
                raise ValueError(f"the URL of database {name!r} must be a string")
            _check_dsn(dsn, f"the URL of database {name!r}")
        return value

    @field_validator("role_map")
    @classmethod
    def _valid_role_map(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from warden_core.identity import IdentityMap

        for role in IdentityMap.parse(value).values:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$", role):
                raise ValueError(f"{role!r} is not a database role name")
        return value

    @field_validator("schemas")
    @classmethod
    def _valid_schemas(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one schema (or `*`)")
        return value

    @field_validator("allowed_functions")
    @classmethod
    def _valid_functions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            schema, dot, name = pattern.partition(".")
            if not (schema and dot and name):
                raise ValueError(
                    f"{pattern!r} must be schema.name (wildcards * and ? allowed), e.g. public.my_function"
                )
            if "[" in pattern or "\\" in pattern:
                raise ValueError(f"{pattern!r}: only the wildcards * and ? are supported")
            if schema == "pg_catalog":
                raise ValueError(
                    f"{pattern!r}: built-in functions are decided by the reviewed list, not by this setting"
                )
        return value

    @model_validator(mode="after")
    def _check_databases(self) -> Self:
        named = self.named_dsns()
        if self.dsn is not None and self.databases is not None and MAIN in self._extra_dsns():
            raise ValueError(f"DATABASES must not redefine {MAIN!r}: that name belongs to DSN")
        if self.default_database is not None and self.default_database not in named:
            raise ValueError(f"default_database {self.default_database!r} is not a configured database")
        for dsn in named.values():
            redaction.register_secret(dsn)
            for secret in _dsn_secrets(dsn):
                redaction.register_secret(secret)
        return self

    # --- Derived. ----------------------------------------------------------------------------
    def _extra_dsns(self) -> dict[str, str]:
        if self.databases is None:
            return {}
        parsed: dict[str, str] = json.loads(self.databases.get_secret_value())
        return parsed

    def named_dsns(self) -> dict[str, str]:
        """Every configured database, by the name tool calls use. Values are secrets."""
        named: dict[str, str] = {}
        if self.dsn is not None:
            named[MAIN] = self.dsn.get_secret_value()
        named.update(self._extra_dsns())
        return named

    @property
    def database_names(self) -> tuple[str, ...]:
        return tuple(self.named_dsns())

    @property
    def default_database_name(self) -> str | None:
        if self.default_database is not None:
            return self.default_database
        names = self.database_names
        return names[0] if names else None

    @property
    def function_allowlist(self) -> Allowlist:
        """ALLOWED_FUNCTIONS, matched against `schema.name`."""
        return Allowlist(self.env_name("allowed_functions"), self.allowed_functions)

    @property
    def search_path(self) -> tuple[str, ...]:
        """Schemas unqualified names resolve in (after pg_catalog): the allowlist's literal names.

        With only patterns (`*`, `sales_*`), `public` is used when the allowlist admits it.
        """
        literal = tuple(name for name in self.schemas if not _GLOB.search(name))
        if literal:
            return literal
        from warden_core import Allowlist

        return ("public",) if Allowlist("", self.schemas).allows("public") else ()

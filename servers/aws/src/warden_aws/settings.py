"""warden-aws settings: `WARDEN_AWS_*` in the environment, read once at start.

Credentials are never settings: they come from AWS's standard chain (environment, shared config and
SSO profiles, container and instance roles), optionally narrowed to one named profile.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import SettingsConfigDict

from warden_core import CommaList, CoreSettings
from warden_core.settings import HttpUrl

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"
_REGION = re.compile(REGION_PATTERN)
_GLOB = re.compile(r"^[a-z0-9*?\-]+$")
_ACCOUNT_GLOB = re.compile(r"^[0-9*?]{1,12}$")
_OPERATION_GLOB = re.compile(r"^[a-z0-9*?\-]+:[A-Za-z0-9*?]+$")
_ROLE_GLOB = re.compile(r"^arn:aws[a-z-]*:iam::[0-9*?]{1,12}:role/[\w+=,.@/*?-]{1,512}$")

DEFAULT_SERVICES = ("sts", "ec2", "s3", "lambda", "cloudwatch", "logs", "ce", "cloudtrail", "securityhub", "guardduty")
"""The services the curated tools use. The generic call tool reaches more only when an operator adds them."""


def _region(value: str | None) -> str | None:
    if value is not None and not _REGION.match(value):
        raise ValueError("must be an AWS region such as eu-west-1")
    return value


def _patterns(check: re.Pattern[str], example: str) -> AfterValidator:
    def validate(values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not check.match(value):
                raise ValueError(f"each entry must look like {example}")
        return values

    return AfterValidator(validate)


class Settings(CoreSettings):
    """Read-only AWS for AI agents: failures, audit events, findings, costs and inventory, classified reads."""

    model_config = SettingsConfigDict(env_prefix="WARDEN_AWS_")  # the rest is inherited from CoreSettings

    server_name: ClassVar[str] = "aws"
    default_port: ClassVar[int] = 8105

    profile: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.+=,@-]{1,128}$",
        description="AWS profile to use; unset means the standard chain (env, AWS_PROFILE, SSO, role).",
    )
    region: Annotated[str | None, AfterValidator(_region)] = Field(
        None, description="Default region; unset means AWS_REGION or the profile's region."
    )
    accounts: Annotated[CommaList, _patterns(_ACCOUNT_GLOB, "123456789012 or 1234*")] = Field(
        ("*",), description="AWS account ids the credential may belong to (checked with STS before any data call)."
    )
    regions: Annotated[CommaList, _patterns(_GLOB, "eu-west-1 or eu-*")] = Field(
        ("*",), description="Regions the server may read (checked on arguments and on every signed request)."
    )
    services: Annotated[CommaList, _patterns(_GLOB, "ec2 or *")] = Field(
        DEFAULT_SERVICES, description="Services the server may call (botocore names: ec2, s3, logs, ...)."
    )
    allow_sensitive: Annotated[CommaList, _patterns(_OPERATION_GLOB, "ssm:GetParameter")] = Field(
        (), description="Sensitive operations allowed anyway (`service:Operation` globs); their answers are unmasked."
    )
    role_map: CommaList = Field(
        (),
        description="Per-principal roles: `group:analysts=arn:aws:iam::111111111111:role/warden-analyst,...`; "
        "each call assumes its principal's role with SourceIdentity set to the principal. Unset: the server's "
        "own credential for every call.",
    )
    roles: Annotated[CommaList, _patterns(_ROLE_GLOB, "arn:aws:iam::123456789012:role/name")] = Field(
        (), description="Role ARNs (globs) the server may assume; every ROLE_MAP role must be one of them."
    )
    role_session_seconds: int = Field(3600, ge=900, le=43200, description="Lifetime of an assumed-role session.")
    endpoint_url: HttpUrl | None = Field(
        None, description="Send every request to this endpoint instead of AWS (LocalStack, moto); tests only."
    )
    connect_timeout: float = Field(5.0, gt=0, le=60, description="Seconds to open a connection to AWS.")
    read_timeout: float = Field(15.0, gt=0, le=300, description="Seconds to wait for AWS to answer one attempt.")
    max_pool_connections: int = Field(10, ge=1, le=100, description="Connections per AWS client.")

    @model_validator(mode="after")
    def _check_role_map(self) -> Settings:
        from warden_core import Allowlist
        from warden_core.identity import IdentityMap

        allowed = Allowlist("roles", self.roles)
        for arn in IdentityMap.parse(self.role_map).values:
            if not _ROLE_GLOB.match(arn) or any(c in arn for c in "*?"):
                raise ValueError(f"{self.env_name('role_map')}: {arn!r} is not a role ARN")
            if not allowed.allows(arn):
                raise ValueError(
                    f"{self.env_name('role_map')}: role {arn} is not in {self.env_name('roles')}, "
                    "the roles this server may assume"
                )
        return self

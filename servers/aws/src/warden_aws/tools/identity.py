"""Who the server is in AWS: STS caller identity, plus the account, region and limits in use."""

from __future__ import annotations

from pydantic import Field

from warden_aws.client import AwsClient
from warden_aws.settings import Settings
from warden_core import Access, ToolSpec
from warden_core.results import Lean


class WhoAmI(Lean):
    account: str
    arn: str
    user_id: str
    partition: str
    region: str = Field(description="The default region.")
    profile: str | None = Field(None, description="Null: the standard credential chain.")
    account_allowed: bool
    allowed_accounts: list[str]
    allowed_regions: list[str]
    allowed_services: list[str]


def specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    async def whoami() -> WhoAmI:
        # STS caller identity is how the account policy itself works (it needs no IAM permission and
        # reveals nothing secret), so it is exempt from the service allowlist and from the account check:
        # this tool is how an operator sees why other calls are refused.
        identity = await aws.identity(refresh=True)
        region = await aws.default_region()
        return WhoAmI(
            account=identity.account,
            arn=identity.arn,
            user_id=identity.user_id,
            partition=identity.arn.split(":")[1] if identity.arn.count(":") >= 2 else "aws",
            region=region,
            profile=settings.profile,
            account_allowed=aws.accounts.allows(identity.account),
            allowed_accounts=list(settings.accounts),
            allowed_regions=list(settings.regions),
            allowed_services=list(settings.services),
        )

    return [
        ToolSpec(
            name="aws_whoami",
            title="Who am I in AWS",
            description=(
                "The AWS identity this server uses (account, ARN), its default region, and the accounts, regions "
                "and services it may read. Call it first when unsure where other tools read."
            ),
            group="identity",
            access=Access.READ,
            handler=whoami,
        )
    ]

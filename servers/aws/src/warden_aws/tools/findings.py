"""What is wrong: Security Hub and GuardDuty findings, as a reviewed subset of their fields.

`securityhub:GetFindings` is classified sensitive, and `aws_call` refuses it: a finding's resource
details copy a resource's configuration, secret members included (a VPN connection's pre-shared key,
a database's pending master password). This tool may call it (`policy.CURATED`) because it keeps only
reviewed fields: the finding's id, title, severity, type, product, status, counts and dates, a short
description and remediation text, and each resource's type and id. It never reads `Resources[].Details`,
`ProductFields`, `UserDefinedFields`, `Note` or `Action`, which can carry anything. GuardDuty findings
get the same treatment: the resource's type and identifiers, never its access key or network details.

A finding about an account the policy does not allow (an administrator account sees its members') is
left out, and not counted; Security Hub is also asked for the allowed accounts only when they are listed
by id.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field

from warden_aws.client import AwsClient
from warden_aws.render import plain, take_page
from warden_aws.settings import Settings
from warden_aws.tools.common import Cursor, Region
from warden_aws.tools.inventory import _resume, _short
from warden_core import Access, Budget, InvalidArgument, ToolSpec, strip_invisible
from warden_core.results import Lean, Row

Source = Literal["securityhub", "guardduty"]
MinSeverity = Annotated[
    Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] | None, Field(description="Only this severity or higher.")
]
FindingPageSize = Annotated[int, Field(description="Findings per page.", ge=1, le=50)]

_LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_ACCOUNT = re.compile(r"^\d{12}$")
# GuardDuty scores severity from 1 to 10: the labels AWS shows for each band.
_GUARDDUTY_FLOOR = {"LOW": 1.0, "MEDIUM": 4.0, "HIGH": 7.0, "CRITICAL": 9.0}


class Finding(Row):
    id: str
    title: str
    severity: str | None = None
    type: str | None = None
    product: str | None = None
    account: str | None = None
    region: str | None = None
    resources: list[str]
    status: str | None = None
    count: int | None = None
    updated_at: str | None = None
    description: str | None = None
    remediation: str | None = None


class Findings(Lean):
    source: str
    region: str
    findings: list[Finding]
    truncated: bool
    next_cursor: str | None = None


def _guardduty_label(score: Any) -> str | None:
    if not isinstance(score, int | float):
        return None
    return next((label for label in reversed(_LEVELS) if score >= _GUARDDUTY_FLOOR[label]), "INFORMATIONAL")


def _securityhub(raw: dict[str, Any]) -> Finding:
    severity = raw.get("Severity") or {}
    recommendation = (raw.get("Remediation") or {}).get("Recommendation") or {}
    remediation = " ".join(str(part) for part in (recommendation.get("Text"), recommendation.get("Url")) if part)
    return Finding(
        id=strip_invisible(str(raw.get("Id") or "")),
        title=_short(raw.get("Title"), 300) or "",
        severity=severity.get("Label"),
        type=_short((raw.get("Types") or [None])[0], 200),
        product=_short(raw.get("ProductName"), 100),
        account=raw.get("AwsAccountId"),
        region=raw.get("Region"),
        resources=[
            _short(f"{resource.get('Type')} {resource.get('Id')}", 300) or "?"
            for resource in (raw.get("Resources") or [])[:10]
        ],
        status=(raw.get("Workflow") or {}).get("Status") or (raw.get("Compliance") or {}).get("Status"),
        updated_at=plain(raw.get("UpdatedAt")),
        description=_short(raw.get("Description"), 500),
        remediation=_short(remediation, 400),
    )


def _guardduty_resource(resource: dict[str, Any]) -> list[str]:
    kind = str(resource.get("ResourceType") or "?")
    ids: list[Any] = [
        (resource.get("InstanceDetails") or {}).get("InstanceId"),
        (resource.get("AccessKeyDetails") or {}).get("UserName"),
        (resource.get("EksClusterDetails") or {}).get("Name"),
        (resource.get("EcsClusterDetails") or {}).get("Name"),
        (resource.get("LambdaDetails") or {}).get("FunctionName"),
        (resource.get("RdsDbInstanceDetails") or {}).get("DbInstanceIdentifier"),
        *[bucket.get("Name") for bucket in resource.get("S3BucketDetails") or []],
    ]
    named = [str(value) for value in ids if value]
    return [_short(f"{kind} {name}", 300) or kind for name in named[:10]] or [kind]


def _guardduty(raw: dict[str, Any]) -> Finding:
    service = raw.get("Service") or {}
    return Finding(
        id=strip_invisible(str(raw.get("Id") or "")),
        title=_short(raw.get("Title"), 300) or "",
        severity=_guardduty_label(raw.get("Severity")),
        type=_short(raw.get("Type"), 200),
        product="GuardDuty",
        account=raw.get("AccountId"),
        region=raw.get("Region"),
        resources=_guardduty_resource(raw.get("Resource") or {}),
        status="ARCHIVED" if service.get("Archived") else "ACTIVE",
        count=service.get("Count") if isinstance(service.get("Count"), int) else None,
        updated_at=plain(raw.get("UpdatedAt")),
        description=_short(raw.get("Description"), 500),
    )


class FindingTools:
    def __init__(self, aws: AwsClient, settings: Settings) -> None:
        self.aws = aws
        self.settings = settings

    def _allowed(self, finding: Finding) -> bool:
        return finding.account is None or self.aws.accounts.allows(finding.account)

    async def findings(
        self,
        source: Source = "securityhub",
        severity: MinSeverity = None,
        region: Region = None,
        page_size: FindingPageSize = 20,
        cursor: Cursor = None,
    ) -> Findings:
        kind = f"{source}_findings"
        skip, token = _resume(cursor, kind)
        if source == "guardduty":
            found, next_token, chosen = await self._guardduty(severity, region, page_size, token)
        else:
            found, next_token, chosen = await self._securityhub(severity, region, page_size, token)
        # A page cut by the output cap resumes inside itself: the cursor holds the page's token and the
        # findings already shown.
        kept, truncated, next_cursor = take_page(
            [finding.model_dump() for finding in found if self._allowed(finding)],
            kind=kind,
            budget=Budget(max(1024, self.settings.max_output_bytes - 2048)),
            skip=skip,
            token=token,
            next_token=next_token,
        )
        return Findings(
            source=source,
            region=chosen,
            findings=[Finding(**item) for item in kept],
            truncated=truncated,
            next_cursor=next_cursor,
        )

    async def _securityhub(
        self, severity: str | None, region: str | None, page_size: int, token: str | None
    ) -> tuple[list[Finding], str | None, str]:
        filters: dict[str, Any] = {
            "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
            "WorkflowStatus": [{"Value": status, "Comparison": "EQUALS"} for status in ("NEW", "NOTIFIED")],
        }
        if severity is not None:
            levels = _LEVELS[_LEVELS.index(severity) :]
            filters["SeverityLabel"] = [{"Value": level, "Comparison": "EQUALS"} for level in levels]
        accounts = self.aws.accounts.patterns
        if accounts and all(_ACCOUNT.match(account) for account in accounts):
            filters["AwsAccountId"] = [{"Value": account, "Comparison": "EQUALS"} for account in accounts]
        params: dict[str, Any] = {
            "Filters": filters,
            "SortCriteria": [{"Field": "UpdatedAt", "SortOrder": "desc"}],
            "MaxResults": page_size,
        }
        if token:
            params["NextToken"] = token
        answer, _, chosen = await self.aws.call("securityhub", "GetFindings", params, region, curated=True)
        return [_securityhub(raw) for raw in answer.get("Findings") or []], answer.get("NextToken"), chosen

    async def _guardduty(
        self, severity: str | None, region: str | None, page_size: int, token: str | None
    ) -> tuple[list[Finding], str | None, str]:
        detectors, _, chosen = await self.aws.call("guardduty", "ListDetectors", {}, region, curated=True)
        ids = detectors.get("DetectorIds") or []
        if not ids:
            raise InvalidArgument(f"GuardDuty is not enabled in {chosen} (no detector)")
        detector = str(ids[0])
        criteria: dict[str, Any] = {"service.archived": {"Equals": ["false"]}}
        if severity is not None:
            criteria["severity"] = {"GreaterThanOrEqual": int(_GUARDDUTY_FLOOR[severity])}
        params: dict[str, Any] = {
            "DetectorId": detector,
            "FindingCriteria": {"Criterion": criteria},
            "SortCriteria": {"AttributeName": "updatedAt", "OrderBy": "DESC"},
            "MaxResults": page_size,
        }
        if token:
            params["NextToken"] = token
        listed, _, _ = await self.aws.call("guardduty", "ListFindings", params, chosen, curated=True)
        finding_ids = listed.get("FindingIds") or []
        if not finding_ids:
            return [], None, chosen
        answer, _, _ = await self.aws.call(
            "guardduty", "GetFindings", {"DetectorId": detector, "FindingIds": finding_ids}, chosen, curated=True
        )
        order = {finding_id: index for index, finding_id in enumerate(finding_ids)}
        raw = sorted(answer.get("Findings") or [], key=lambda item: order.get(item.get("Id"), len(order)))
        return [_guardduty(item) for item in raw], listed.get("NextToken") or None, chosen

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="aws_security_findings",
                title="Security findings",
                description=(
                    "What is wrong: active Security Hub or GuardDuty findings in one region, newest first, with "
                    "severity and affected resources (never their details)."
                ),
                group="security",
                access=Access.READ,
                handler=self.findings,
                resource_args={"region": "regions"},
            )
        ]


def specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    return FindingTools(aws, settings).specs()

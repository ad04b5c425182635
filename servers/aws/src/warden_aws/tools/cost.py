"""What it is costing: Cost Explorer spend by service for a period."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated, Any, Literal

from pydantic import Field

from warden_aws.client import AwsClient
from warden_aws.settings import Settings
from warden_aws.tools.common import Out
from warden_core import Access, Budget, InvalidArgument, ToolSpec, strip_invisible

Granularity = Annotated[Literal["MONTHLY", "DAILY"], Field(description="One row per month or per day.")]
CostMetric = Annotated[
    Literal["UnblendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost", "BlendedCost"],
    Field(description="Cost Explorer metric (default UnblendedCost)."),
]
Start = Annotated[dt.date | None, Field(description="First day, inclusive (YYYY-MM-DD). Default: start of this month.")]
End = Annotated[dt.date | None, Field(description="Last day, exclusive (YYYY-MM-DD). Default: today.")]
Top = Annotated[int, Field(description="Services listed per period; the rest are summed as other.", ge=1, le=50)]

MAX_PAGES = 10
MAX_DAYS = {"MONTHLY": 366, "DAILY": 92}


class ServiceCost(Out):
    service: str
    amount: float


class PeriodCost(Out):
    start: str
    end: str
    estimated: bool
    total: float
    services: list[ServiceCost]
    other_services: int = Field(description="How many smaller services are summed in other_amount.")
    other_amount: float


class CostReport(Out):
    start: str
    end: str
    granularity: str
    metric: str
    unit: str | None
    total: float
    top_services: list[ServiceCost] = Field(description="Largest services over the whole range.")
    periods: list[PeriodCost]
    truncated: bool


def _range(start: dt.date | None, end: dt.date | None, granularity: str) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    end = end or today
    if start is None:
        start = end.replace(day=1)
        if start >= end:  # the first of the month: show last month
            start = (start - dt.timedelta(days=1)).replace(day=1)
    if start >= end:
        raise InvalidArgument("start must be before end (end is exclusive)")
    if (end - start).days > MAX_DAYS[granularity]:
        raise InvalidArgument(f"a {granularity} report covers at most {MAX_DAYS[granularity]} days; shorten the range")
    return start, end


def _ranked(amounts: dict[str, float], top: int) -> tuple[list[ServiceCost], int, float]:
    ordered = sorted(amounts.items(), key=lambda item: (-item[1], item[0]))
    shown = [ServiceCost(service=name, amount=round(amount, 4)) for name, amount in ordered[:top]]
    rest = ordered[top:]
    return shown, len(rest), round(sum(amount for _, amount in rest), 4)


def specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    async def cost_by_service(
        start: Start = None,
        end: End = None,
        granularity: Granularity = "MONTHLY",
        metric: CostMetric = "UnblendedCost",
        top: Top = 15,
    ) -> CostReport:
        first, last = _range(start, end, granularity)
        params: dict[str, Any] = {
            "TimePeriod": {"Start": first.isoformat(), "End": last.isoformat()},
            "Granularity": granularity,
            "Metrics": [metric],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        }
        results: list[dict[str, Any]] = []
        truncated = False
        for page in range(MAX_PAGES):
            answer, _, _ = await aws.call("ce", "GetCostAndUsage", params, None, curated=True, target="cost by service")
            results.extend(answer.get("ResultsByTime") or [])
            token = answer.get("NextPageToken")
            if not token:
                break
            if page == MAX_PAGES - 1:
                truncated = True
            params["NextPageToken"] = token

        unit: str | None = None
        by_period: dict[tuple[str, str], dict[str, float]] = {}
        estimated: dict[tuple[str, str], bool] = {}
        overall: dict[str, float] = defaultdict(float)
        for result in results:
            period = result.get("TimePeriod") or {}
            key = (str(period.get("Start")), str(period.get("End")))
            amounts = by_period.setdefault(key, defaultdict(float))
            estimated[key] = estimated.get(key, False) or bool(result.get("Estimated"))
            for group in result.get("Groups") or []:
                name = strip_invisible(str((group.get("Keys") or ["?"])[0]))
                value = (group.get("Metrics") or {}).get(metric) or {}
                unit = unit or value.get("Unit")
                amount = float(value.get("Amount") or 0)
                amounts[name] += amount
                overall[name] += amount

        budget = Budget(max(1024, settings.max_output_bytes - 4096))
        periods = []
        for key in sorted(by_period):
            amounts = by_period[key]
            services, others, other_amount = _ranked(amounts, top)
            row = PeriodCost(
                start=key[0],
                end=key[1],
                estimated=estimated[key],
                total=round(sum(amounts.values()), 4),
                services=services,
                other_services=others,
                other_amount=other_amount,
            )
            if not budget.admit(row.model_dump()):
                break
            periods.append(row)
        top_services, _, _ = _ranked(overall, top)
        return CostReport(
            start=first.isoformat(),
            end=last.isoformat(),
            granularity=granularity,
            metric=metric,
            unit=unit,
            total=round(sum(overall.values()), 4),
            top_services=top_services,
            periods=periods,
            truncated=truncated or budget.truncated,
        )

    return [
        ToolSpec(
            name="aws_cost_by_service",
            title="Cost by service",
            description=(
                "Show AWS spend by service from Cost Explorer for a date range (end exclusive; default this "
                "month to date), per month or per day: the largest services per period and over the range, the "
                "rest summed. AWS bills each Cost Explorer request ($0.01)."
            ),
            group="cost",
            access=Access.READ,
            handler=cost_by_service,
        )
    ]

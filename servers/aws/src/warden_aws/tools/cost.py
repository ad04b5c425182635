"""What it is costing: Cost Explorer spend by service, the forecast to a date, and cost anomalies."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated, Any, Literal

from pydantic import Field

from warden_aws.client import AwsClient
from warden_aws.render import encode_cursor, take_page
from warden_aws.settings import Settings
from warden_aws.tools.common import Cursor
from warden_aws.tools.inventory import _resume, _short
from warden_core import Access, Budget, InvalidArgument, ToolSpec, strip_invisible
from warden_core.results import Lean, Row

Report = Annotated[
    Literal["by_service", "forecast", "anomalies"],
    Field(description="by_service, forecast (today to end) or anomalies (in the range)."),
]
Granularity = Literal["MONTHLY", "DAILY"]
CostMetric = Literal["UnblendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost", "BlendedCost"]
Start = Annotated[dt.date | None, Field(description="First day. Default: this month's first.")]
End = Annotated[dt.date | None, Field(description="Day after the last. Default: today (forecast: next month).")]
Top = Annotated[int, Field(description="Services per period.", ge=1, le=50)]

MAX_PAGES = 10
MAX_DAYS = {"MONTHLY": 366, "DAILY": 92}
# GetCostForecast names the same metrics in another spelling.
FORECAST_METRIC = {
    "UnblendedCost": "UNBLENDED_COST",
    "AmortizedCost": "AMORTIZED_COST",
    "NetUnblendedCost": "NET_UNBLENDED_COST",
    "NetAmortizedCost": "NET_AMORTIZED_COST",
    "BlendedCost": "BLENDED_COST",
}


class ServiceCost(Row):
    service: str
    amount: float


class PeriodCost(Row):
    """A period's spend (by_service) or forecast (mean, with the 80% interval in low and high)."""

    start: str
    end: str
    total: float
    estimated: bool | None = None
    services: list[ServiceCost] | None = None
    other_services: int | None = None
    other_amount: float | None = None
    low: float | None = None
    high: float | None = None


class Anomaly(Row):
    start: str | None = None
    end: str | None = None
    monitored: str | None = None
    impact: float | None = None
    actual: float | None = None
    expected: float | None = None
    score: float | None = None
    causes: list[str]


class CostReport(Lean):
    report: str
    start: str
    end: str
    metric: str
    unit: str | None = None
    total: float | None = None
    top_services: list[ServiceCost] | None = None
    periods: list[PeriodCost] | None = None
    anomalies: list[Anomaly] | None = None
    truncated: bool
    next_cursor: str | None = None


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


def _amount(value: Any) -> float | None:
    try:
        return round(float(value), 4) if value is not None else None
    except (TypeError, ValueError):
        return None


class CostTools:
    def __init__(self, aws: AwsClient, settings: Settings) -> None:
        self.aws = aws
        self.settings = settings

    def _budget(self) -> Budget:
        return Budget(max(1024, self.settings.max_output_bytes - 4096))

    async def cost(
        self,
        *,
        report: Report = "by_service",
        start: Start = None,
        end: End = None,
        granularity: Granularity = "MONTHLY",
        metric: CostMetric = "UnblendedCost",
        top: Top = 15,
        cursor: Cursor = None,
    ) -> CostReport:
        if report == "forecast":
            return await self._forecast(start, end, granularity, metric)
        if report == "anomalies":
            return await self._anomalies(start, end, metric, cursor)
        return await self._by_service(start, end, granularity, metric, top=top, cursor=cursor)

    async def _by_service(
        self, start: dt.date | None, end: dt.date | None, granularity: str, metric: str, *, top: int, cursor: str | None
    ) -> CostReport:
        first, last = _range(start, end, granularity)
        skip, _ = _resume(cursor, "cost_periods")  # periods already shown (the totals cover the whole range)
        params: dict[str, Any] = {
            "TimePeriod": {"Start": first.isoformat(), "End": last.isoformat()},
            "Granularity": granularity,
            "Metrics": [metric],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        }
        results: list[dict[str, Any]] = []
        truncated = False
        for page in range(MAX_PAGES):
            answer, _, _ = await self.aws.call(
                "ce", "GetCostAndUsage", params, None, curated=True, target="cost by service"
            )
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

        budget = self._budget()
        periods: list[PeriodCost] = []
        next_cursor = None
        for index, key in enumerate(sorted(by_period)):
            if index < skip:
                continue
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
            if not budget.admit(row.model_dump(exclude_none=True)):
                next_cursor = encode_cursor({"k": "cost_periods", "t": None, "s": index if periods else index + 1})
                break
            periods.append(row)
        top_services, _, _ = _ranked(overall, top)
        return CostReport(
            report="by_service",
            start=first.isoformat(),
            end=last.isoformat(),
            metric=metric,
            unit=unit,
            total=round(sum(overall.values()), 4),
            top_services=top_services,
            periods=periods,
            truncated=truncated or budget.truncated,
            next_cursor=next_cursor,
        )

    async def _forecast(self, start: dt.date | None, end: dt.date | None, granularity: str, metric: str) -> CostReport:
        today = dt.datetime.now(dt.UTC).date()
        first = start or today
        if first < today:
            raise InvalidArgument("a forecast starts today or later")
        last = end or (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        if last <= first:
            raise InvalidArgument("end must be after start (end is exclusive)")
        if (last - first).days > MAX_DAYS[granularity]:
            raise InvalidArgument(f"a {granularity} forecast covers at most {MAX_DAYS[granularity]} days")
        params = {
            "TimePeriod": {"Start": first.isoformat(), "End": last.isoformat()},
            "Metric": FORECAST_METRIC[metric],
            "Granularity": granularity,
            "PredictionIntervalLevel": 80,
        }
        answer, _, _ = await self.aws.call("ce", "GetCostForecast", params, None, curated=True, target="forecast")
        total = answer.get("Total") or {}
        periods = [
            PeriodCost(
                start=str((item.get("TimePeriod") or {}).get("Start")),
                end=str((item.get("TimePeriod") or {}).get("End")),
                total=_amount(item.get("MeanValue")) or 0.0,
                low=_amount(item.get("PredictionIntervalLowerBound")),
                high=_amount(item.get("PredictionIntervalUpperBound")),
            )
            for item in answer.get("ForecastResultsByTime") or []
        ]
        return CostReport(
            report="forecast",
            start=first.isoformat(),
            end=last.isoformat(),
            metric=metric,
            unit=total.get("Unit"),
            total=_amount(total.get("Amount")),
            periods=periods,
            truncated=False,
        )

    async def _anomalies(
        self, start: dt.date | None, end: dt.date | None, metric: str, cursor: str | None
    ) -> CostReport:
        first, last = _range(start, end, "DAILY")
        skip, token = _resume(cursor, "cost_anomalies")
        params: dict[str, Any] = {
            "DateInterval": {"StartDate": first.isoformat(), "EndDate": last.isoformat()},
            "MaxResults": 50,
        }
        if token:
            params["NextPageToken"] = token
        answer, _, _ = await self.aws.call("ce", "GetAnomalies", params, None, curated=True, target="cost anomalies")
        rows = [row for row in (self._anomaly(raw) for raw in answer.get("Anomalies") or []) if row is not None]
        kept, truncated, next_cursor = take_page(
            rows,
            kind="cost_anomalies",
            budget=self._budget(),
            skip=skip,
            token=token,
            next_token=answer.get("NextPageToken"),
        )
        return CostReport(
            report="anomalies",
            start=first.isoformat(),
            end=last.isoformat(),
            metric=metric,
            anomalies=[Anomaly(**row) for row in kept],
            truncated=truncated,
            next_cursor=next_cursor,
        )

    def _anomaly(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        """An anomaly, unless it names an account the policy does not allow (then it is left out, uncounted)."""
        causes = raw.get("RootCauses") or []
        named = [raw.get("DimensionValue"), *(cause.get("LinkedAccount") for cause in causes)]
        if any(
            isinstance(value, str) and value.isdigit() and len(value) == 12 and not self.aws.accounts.allows(value)
            for value in named
        ):
            return None
        impact = raw.get("Impact") or {}
        described = []
        for cause in causes[:5]:
            parts = [cause.get("Service"), cause.get("Region"), cause.get("UsageType"), cause.get("LinkedAccount")]
            described.append(_short(" / ".join(str(part) for part in parts if part), 300) or "?")
        return Anomaly(
            start=raw.get("AnomalyStartDate"),
            end=raw.get("AnomalyEndDate"),
            monitored=_short(raw.get("DimensionValue"), 200),
            impact=_amount(impact.get("TotalImpact")),
            actual=_amount(impact.get("TotalActualSpend")),
            expected=_amount(impact.get("TotalExpectedSpend")),
            score=_amount((raw.get("AnomalyScore") or {}).get("MaxScore")),
            causes=described,
        ).model_dump()

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="aws_cost",
                title="Cost, forecast and anomalies",
                description=(
                    "AWS spend from Cost Explorer by service, per month or day; its forecast; or cost anomalies. "
                    "AWS bills each request ($0.01)."
                ),
                group="cost",
                access=Access.READ,
                handler=self.cost,
            )
        ]


def specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    return CostTools(aws, settings).specs()

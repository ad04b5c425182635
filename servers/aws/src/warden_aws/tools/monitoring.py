"""What is failing: CloudWatch alarms by state, and CloudWatch Logs Insights queries under a deadline."""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from pydantic import Field

from warden_aws.client import AwsClient
from warden_aws.render import plain, take_page
from warden_aws.settings import Settings
from warden_aws.tools.common import Cursor, Region
from warden_aws.tools.inventory import _resume, _short
from warden_core import Access, Budget, InvalidArgument, ToolSpec, strip_invisible, truncate_text
from warden_core.results import Lean, Row

logger = logging.getLogger(__name__)

AlarmState = Annotated[
    Literal["ALARM", "INSUFFICIENT_DATA", "OK"], Field(description="Alarm state to list (default ALARM).")
]
AlarmPrefix = Annotated[
    str | None, Field(description="Only alarms whose name starts with this.", min_length=1, max_length=255)
]
AlarmPageSize = Annotated[int, Field(description="Alarms per page.", ge=1, le=100)]
HistoryOf = Annotated[
    str | None,
    Field(
        description="An alarm's exact name, or * for all: its history instead of current alarms.",
        min_length=1,
        max_length=255,
    ),
]
LogGroup = Annotated[str, Field(pattern=r"^[.\-_/#A-Za-z0-9]{1,512}$")]
LogGroups = Annotated[list[LogGroup], Field(description="Log group names to query.", min_length=1, max_length=50)]
Query = Annotated[
    str,
    Field(
        description="e.g. `fields @timestamp, @message | filter @message like /ERROR/`.",
        min_length=1,
        max_length=10_000,
    ),
]
SinceMinutes = Annotated[int, Field(description="Range start, minutes ago.", ge=1, le=43_200)]
UntilMinutes = Annotated[int, Field(description="Range end, minutes ago.", ge=0, le=43_200)]
RowLimit = Annotated[int, Field(description="Most rows to return.", ge=1, le=10_000)]
Deadline = Annotated[
    int, Field(description="Seconds before the query is stopped and its rows so far returned.", ge=1, le=300)
]

FINISHED = frozenset({"Complete", "Failed", "Cancelled", "Timeout", "Unknown"})
MAX_VALUE_CHARS = 2_000


class Alarm(Row):
    name: str
    type: Literal["metric", "composite"]
    state: str | None = None
    since: str | None = None
    reason: str | None = None
    namespace: str | None = None
    metric: str | None = None
    dimensions: dict[str, str] | None = None
    statistic: str | None = None
    threshold: float | None = None
    comparison: str | None = None
    rule: str | None = None
    actions_enabled: bool | None = None


class AlarmChange(Row):
    time: str | None = None
    alarm: str
    kind: str | None = None
    old_state: str | None = None
    new_state: str | None = None
    summary: str | None = None


class Alarms(Lean):
    region: str
    state: str | None = None
    alarms: list[Alarm] | None = None
    history: list[AlarmChange] | None = None
    truncated: bool
    next_cursor: str | None = None


class InsightsResult(Lean):
    query_id: str
    region: str
    status: str
    complete: bool = Field(description="False when rows are partial.")
    stopped_at_deadline: bool
    rows: list[dict[str, str]]
    records_matched: float | None = None
    records_scanned: float | None = None
    bytes_scanned: float | None = None
    truncated: bool


def _alarm(raw: dict[str, Any], composite: bool) -> dict[str, Any]:
    dims = {
        strip_invisible(str(d.get("Name"))): strip_invisible(str(d.get("Value"))) for d in raw.get("Dimensions") or []
    }
    return Alarm(
        name=strip_invisible(raw["AlarmName"]),
        type="composite" if composite else "metric",
        state=raw.get("StateValue"),
        since=plain(raw.get("StateUpdatedTimestamp")),
        reason=_short(raw.get("StateReason"), 300),
        namespace=raw.get("Namespace"),
        metric=raw.get("MetricName"),
        dimensions=dims or None,
        statistic=raw.get("Statistic") or raw.get("ExtendedStatistic"),
        threshold=raw.get("Threshold"),
        comparison=raw.get("ComparisonOperator"),
        rule=_short(raw.get("AlarmRule"), 500),
        actions_enabled=raw.get("ActionsEnabled"),
    ).model_dump(exclude_none=True)


def _change(raw: dict[str, Any]) -> dict[str, Any]:
    """One alarm history item; the states come from its HistoryData document (JSON text) when it has them."""
    states: dict[str, Any] = {}
    try:
        data = json.loads(raw.get("HistoryData") or "{}")
    except ValueError:
        data = {}
    if isinstance(data, dict):
        states = {k: (data.get(k) or {}).get("stateValue") for k in ("oldState", "newState")}
    return AlarmChange(
        time=plain(raw.get("Timestamp")),
        alarm=strip_invisible(str(raw.get("AlarmName") or "")),
        kind=raw.get("HistoryItemType"),
        old_state=states.get("oldState") if isinstance(states.get("oldState"), str) else None,
        new_state=states.get("newState") if isinstance(states.get("newState"), str) else None,
        summary=_short(raw.get("HistorySummary"), 300),
    ).model_dump()


def _rows(answer: dict[str, Any], max_bytes: int) -> tuple[list[dict[str, str]], bool]:
    """Insights results as {field: value} rows (without the @ptr handle), clean, within the byte cap."""
    budget = Budget(max_bytes)
    rows: list[dict[str, str]] = []
    cut_values = False
    for raw in answer.get("results") or []:
        row = {}
        for cell in raw:
            field = str(cell.get("field", ""))
            if field == "@ptr":
                continue
            value, cut = truncate_text(strip_invisible(str(cell.get("value", ""))), MAX_VALUE_CHARS)
            cut_values = cut_values or cut
            row[strip_invisible(field)] = value
        if not budget.admit(row):
            break
        rows.append(row)
    return rows, budget.truncated or cut_values


def _alarms(aws: AwsClient, settings: Settings) -> ToolSpec:
    async def history(region: str | None, alarm: str, page_size: int, cursor: str | None) -> Alarms:
        skip, token = _resume(cursor, "alarm_history")
        params: dict[str, Any] = {
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "ScanBy": "TimestampDescending",
            "MaxRecords": page_size,
        }
        if alarm != "*":
            params["AlarmName"] = alarm
        if token:
            params["NextToken"] = token
        answer, _, chosen = await aws.call("cloudwatch", "DescribeAlarmHistory", params, region, curated=True)
        items = [_change(raw) for raw in answer.get("AlarmHistoryItems") or []]
        kept, truncated, next_cursor = take_page(
            items,
            kind="alarm_history",
            limit=page_size,
            budget=Budget(max(1024, settings.max_output_bytes - 2048)),
            skip=skip,
            token=token,
            next_token=answer.get("NextToken"),
        )
        return Alarms(
            region=chosen, history=[AlarmChange(**c) for c in kept], truncated=truncated, next_cursor=next_cursor
        )

    async def alarms(
        region: Region = None,
        *,
        state: AlarmState = "ALARM",
        name_prefix: AlarmPrefix = None,
        history_of: HistoryOf = None,
        page_size: AlarmPageSize = 50,
        cursor: Cursor = None,
    ) -> Alarms:
        if history_of is not None:
            return await history(region, history_of, page_size, cursor)
        skip, token = _resume(cursor, "cloudwatch_alarms")
        params: dict[str, Any] = {
            "StateValue": state,
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "MaxRecords": page_size,
        }
        if name_prefix:
            params["AlarmNamePrefix"] = name_prefix
        if token:
            params["NextToken"] = token
        answer, _, chosen = await aws.call("cloudwatch", "DescribeAlarms", params, region, curated=True)
        items = [_alarm(raw, composite=False) for raw in answer.get("MetricAlarms") or []]
        items += [_alarm(raw, composite=True) for raw in answer.get("CompositeAlarms") or []]
        kept, truncated, next_cursor = take_page(
            items,
            kind="cloudwatch_alarms",
            limit=page_size,
            budget=Budget(max(1024, settings.max_output_bytes - 2048)),
            skip=skip,
            token=token,
            next_token=answer.get("NextToken"),
        )
        return Alarms(
            region=chosen, state=state, alarms=[Alarm(**a) for a in kept], truncated=truncated, next_cursor=next_cursor
        )

    return ToolSpec(
        name="aws_cloudwatch_alarms",
        title="CloudWatch alarms",
        description=(
            "What is failing: CloudWatch alarms in one state (default ALARM) with reason, metric and threshold; "
            "or, with history_of, when alarms changed state."
        ),
        group="monitoring",
        access=Access.READ,
        handler=alarms,
        resource_args={"region": "regions"},
    )


def _logs_insights(aws: AwsClient, settings: Settings) -> ToolSpec:
    async def logs_insights(
        log_groups: LogGroups,
        query: Query,
        ctx: Context,
        *,
        since_minutes: SinceMinutes = 60,
        until_minutes: UntilMinutes = 0,
        limit: RowLimit = 100,
        deadline_seconds: Deadline = 30,
        region: Region = None,
    ) -> InsightsResult:
        now = int(time.time())
        start, end = now - since_minutes * 60, now - until_minutes * 60
        if start >= end:
            raise InvalidArgument("since_minutes must be larger than until_minutes")
        # Leave time inside the server's call deadline to stop the query and answer with partial rows.
        deadline = max(1.0, min(float(deadline_seconds), settings.call_timeout - 5))
        target = ",".join(log_groups)
        params = {
            "logGroupNames": list(log_groups),
            "queryString": query,
            "startTime": start,
            "endTime": end,
            "limit": limit,
        }
        started, _, chosen = await aws.call("logs", "StartQuery", params, region, curated=True, target=target)
        query_id = str(started["queryId"])
        began = time.monotonic()
        finished = False
        answer: dict[str, Any] = {}
        interval = 0.5
        try:
            while True:
                answer, _, _ = await aws.call(
                    "logs", "GetQueryResults", {"queryId": query_id}, chosen, curated=True, target=target
                )
                status = str(answer.get("status", "Unknown"))
                elapsed = time.monotonic() - began
                stats = answer.get("statistics") or {}
                await ctx.report_progress(
                    min(elapsed, deadline),
                    deadline,
                    f"{status}: {int(stats.get('recordsScanned') or 0)} records scanned, "
                    f"{int(stats.get('recordsMatched') or 0)} matched",
                )
                if status in FINISHED:
                    finished = True
                    break
                if elapsed >= deadline:
                    break
                await anyio.sleep(min(interval, max(0.0, deadline - elapsed)))
                interval = min(interval * 1.5, 2.0)
        finally:
            if not finished:
                # Deadline, or the caller went away: cancel the query so it stops scanning (and costing).
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    try:
                        await aws.call("logs", "StopQuery", {"queryId": query_id}, chosen, curated=True, target=target)
                    except Exception as exc:
                        logger.info("could not stop Logs Insights query %s: %s", query_id, exc)
        rows, truncated = _rows(answer, max(1024, settings.max_output_bytes - 2048))
        stats = answer.get("statistics") or {}
        status = str(answer.get("status", "Unknown"))
        return InsightsResult(
            query_id=query_id,
            region=chosen,
            status=status,
            complete=finished and status == "Complete",
            stopped_at_deadline=not finished,
            rows=rows,
            records_matched=stats.get("recordsMatched"),
            records_scanned=stats.get("recordsScanned"),
            bytes_scanned=stats.get("bytesScanned"),
            truncated=truncated,
        )

    return ToolSpec(
        name="aws_logs_insights",
        title="CloudWatch Logs Insights query",
        description=(
            "Run a CloudWatch Logs Insights query over log groups for a recent range. At deadline_seconds it "
            "stops and returns its rows so far (complete=false). Billed by data scanned."
        ),
        group="monitoring",
        access=Access.READ,
        handler=logs_insights,
        resource_args={"region": "regions"},
    )


def specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    return [_alarms(aws, settings), _logs_insights(aws, settings)]

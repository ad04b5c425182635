"""What moto lacks, with botocore's Stubber (and a before-call hook): Cost Explorer, errors, Insights deadlines."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from tests.aws.conftest import REGION, call, data, make_server, text_of
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio


def stub(server: WardenServer, service: str, region: str = REGION) -> Stubber:
    stubber = Stubber(server.aws.client(service, region))  # type: ignore[attr-defined]
    stubber.activate()
    return stubber


def canned(server: WardenServer, service: str, answer: Callable[[str, dict[str, Any]], dict[str, Any]]) -> list[str]:
    """Answer every call to `service` from `answer(operation, params)` without any HTTP, and log the calls."""
    calls: list[str] = []

    def handler(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        calls.append(model.name)
        return AWSResponse("https://stubbed", 200, {}, None), answer(model.name, params)

    client = server.aws.client(service, REGION)  # type: ignore[attr-defined]
    client.meta.events.register_first(f"before-call.{client.meta.service_model.service_id.hyphenize()}", handler)
    return calls


def _cost(start: str, end: str, groups: dict[str, float], estimated: bool = False) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": [
            {"Keys": [name], "Metrics": {"UnblendedCost": {"Amount": str(amount), "Unit": "USD"}}}
            for name, amount in groups.items()
        ],
        "Estimated": estimated,
    }


async def test_cost_by_service_follows_pages_and_ranks_services() -> None:
    server = make_server()
    stubber = stub(server, "ce")
    expected = {
        "TimePeriod": {"Start": "2026-09-01", "End": "2026-11-01"},
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    september = {
        "Amazon Elastic Compute Cloud - Compute": 100.5,
        "Amazon Simple Storage Service": 20.25,
        "AWS Lambda": 3.0,
    }
    october = {"Amazon Elastic Compute Cloud - Compute": 90.0, "Amazon Simple Storage Service": 25.0, "Tax": 1.5}
    stubber.add_response(
        "get_cost_and_usage",
        {"ResultsByTime": [_cost("2026-09-01", "2026-10-01", september)], "NextPageToken": "page-2"},
        expected,
    )
    stubber.add_response(
        "get_cost_and_usage",
        {"ResultsByTime": [_cost("2026-10-01", "2026-11-01", october, estimated=True)]},
        {**expected, "NextPageToken": "page-2"},
    )
    report = data(await call(server, "aws_cost", {"start": "2026-09-01", "end": "2026-11-01", "top": 2}))
    stubber.assert_no_pending_responses()
    assert report["unit"] == "USD" and report["total"] == pytest.approx(240.25)
    assert [s["service"] for s in report["top_services"]] == [
        "Amazon Elastic Compute Cloud - Compute",
        "Amazon Simple Storage Service",
    ]
    first, second = report["periods"]
    assert first["total"] == pytest.approx(123.75) and first["other_services"] == 1 and first["other_amount"] == 3.0
    assert second["estimated"] is True and second["other_amount"] == 1.5
    assert report["truncated"] is False


async def test_cost_defaults_to_this_month_and_checks_the_range() -> None:
    server = make_server()
    stubber = stub(server, "ce")
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": []})
    today = dt.datetime.now(dt.UTC).date()
    report = data(await call(server, "aws_cost", {}))
    assert report["end"] == today.isoformat() and report["start"].endswith("-01")
    assert report["periods"] == [] and report["total"] == 0
    for arguments, message in [
        ({"start": "2026-10-01", "end": "2026-10-01"}, "start must be before end"),
        ({"start": "2026-01-01", "end": "2026-06-01", "granularity": "DAILY"}, "at most 92 days"),
    ]:
        refused = await call(server, "aws_cost", arguments)
        assert refused.is_error and message in text_of(refused)
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (
            "ThrottlingException",
            400,
            "AWS is throttling cloudwatch:DescribeAlarms (ThrottlingException); retry after 5 s",
        ),
        ("AccessDenied", 403, "the AWS credential may not call cloudwatch:DescribeAlarms"),
        ("ExpiredToken", 400, "AWS rejected the credentials (ExpiredToken)"),
        ("InvalidParameterValue", 400, "AWS refused cloudwatch:DescribeAlarms: InvalidParameterValue"),
    ],
)
async def test_aws_errors_become_clear_tool_errors(code: str, status: int, message: str, era: str) -> None:
    server = make_server()
    stubber = stub(server, "cloudwatch")
    stubber.add_client_error(
        "describe_alarms", service_error_code=code, service_message="nope", http_status_code=status
    )
    result = await call(server, "aws_cloudwatch_alarms", {}, era)
    assert result.is_error and message in text_of(result), text_of(result)


async def test_logs_insights_stops_the_query_at_the_deadline() -> None:
    server = make_server()
    seen: list[dict[str, Any]] = []

    def answer(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        if operation == "StartQuery":
            return {"queryId": "q-1"}
        if operation == "GetQueryResults":
            row = [{"field": "@message", "value": "ERROR partial\u200b"}, {"field": "@ptr", "value": "opaque"}]
            return {"status": "Running", "results": [row], "statistics": {"recordsScanned": 1000.0}}
        return {"success": True}

    calls = canned(server, "logs", answer)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with connect(server) as client:
        result = await client.call_tool(
            "aws_logs_insights",
            {"log_groups": ["/app/api"], "query": "fields @message", "deadline_seconds": 1},
            progress_callback=on_progress,
        )
    report = data(result)
    assert report["complete"] is False and report["stopped_at_deadline"] is True
    assert report["rows"] == [{"@message": "ERROR partial"}] and report["records_scanned"] == 1000.0
    assert calls[0] == "StartQuery" and calls[-1] == "StopQuery" and calls.count("GetQueryResults") >= 2
    assert json.loads(seen[-1]["body"]) == {"queryId": "q-1"}  # the request as serialized for the wire
    assert len(progress) >= 2 and all(total == 1 for _, total, _ in progress)
    assert "Running: 1000 records scanned" in (progress[0][2] or "")


async def test_logs_insights_cancels_the_query_when_the_call_times_out() -> None:
    server = make_server(call_timeout=0.6)  # shorter than the shortest query deadline
    calls = canned(
        server,
        "logs",
        lambda op, _: {"queryId": "q-2"} if op == "StartQuery" else {"status": "Running", "results": []},
    )
    result = await call(server, "aws_logs_insights", {"log_groups": ["/app"], "query": "fields @message"})
    assert result.is_error and "did not finish" in text_of(result)
    assert calls[0] == "StartQuery" and calls[-1] == "StopQuery"


DRY_RUNS = [
    (
        "config",
        "SelectResourceConfig",
        {"Expression": "SELECT resourceId WHERE resourceType = 'AWS::EC2::VPC'"},
        {
            "Results": ['{"resourceId":"vpc-1"}'],
            "QueryInfo": {"SelectFields": [{"Name": "resourceId"}]},
        },
    ),
    (
        "accessanalyzer",
        "ValidatePolicy",
        {"policyDocument": '{"Version":"2012-10-17"}', "policyType": "IDENTITY_POLICY"},
        {
            "findings": [],
        },
    ),
    (
        "iam",
        "SimulatePrincipalPolicy",
        {"PolicySourceArn": "arn:aws:iam::123456789012:user/ci", "ActionNames": ["s3:GetObject"]},
        {
            "EvaluationResults": [{"EvalActionName": "s3:GetObject", "EvalDecision": "implicitDeny"}],
            "IsTruncated": False,
        },
    ),
    (
        "ses",
        "TestRenderTemplate",
        {"TemplateName": "welcome", "TemplateData": '{"name":"Ada"}'},
        {
            "RenderedTemplate": "Subject: Hello Ada",
        },
    ),
    ("gamelift", "ValidateMatchmakingRuleSet", {"RuleSetBody": '{"ruleLanguageVersion":"1.0"}'}, {"Valid": True}),
]


@pytest.mark.parametrize(("service", "operation", "parameters", "answer"), DRY_RUNS)
async def test_harmless_dry_runs_run_through_the_generic_call(
    service: str, operation: str, parameters: dict[str, Any], answer: dict[str, Any]
) -> None:
    # These services are outside the default service allowlist, which is not what this test is about.
    server = make_server(services=("*",))
    calls = canned(server, service, lambda op, _: answer)
    result = data(
        await call(server, "aws_call", {"service": service, "operation": operation, "parameters": parameters})
    )
    assert calls == [operation]
    assert result["result"] == answer and result["masked"] == []
